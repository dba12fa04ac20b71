#!/usr/bin/env node
/**
 * `tickcast <command>`: every service starts through here, so the container image,
 * the Kubernetes manifests and a developer's shell all run the same entry point.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { Lifecycle, stopTogether } from './lifecycle.ts';
import { explainStartupError } from './startup-error.ts';
import { PROCESSORS, type ProcessorName } from '../streams/processors.ts';
import { DEFAULT_SUBGRAPH_PORTS, SUBGRAPHS, type SubgraphName } from '../schema/subgraphs.ts';
import { TOPICS } from '../schema/topics.ts';
import { modelAlertSchema } from '../schema/events.ts';
import { decodeValue } from '../streams/bus/codec.ts';
import { basename, join } from 'node:path';
// Types only: each command imports the modules it runs when it runs (below), so a command
// loads its own part of the tree, not all of it: `tickcast train`, the child `tickcast start`
// spawns for its first models, starts in a fraction of the time the whole service takes.
import type { SourceChoice, SourceOptions } from './sources.ts';
import type { Database } from '../streams/store/database.ts';
import type { MarketEvent } from '../schema/events.ts';
import type { Bus } from '../streams/bus/bus.ts';
import type { MarketSink } from '../streams/sources/source.ts';
import type { NewsSourceChoice } from '../streams/news/from-config.ts';
import type { DatasetOptions } from '../training/dataset.ts';
import type * as OpsServer from '../lib/ops-server.ts';
import type * as Runtime from '../streams/runtime.ts';

function checkpointFile(config: Config, kind: string, pair: string): string {
  return join(config.TICKCAST_DATA_DIR, `backfill-${kind}-${pair.replace('/', '')}.json`);
}

/** Open time of the pair's newest stored one-minute candle (stored candles are final), null when none. */
async function newestStoredMinute(pool: Database['pool'], pair: string): Promise<number | null> {
  const { rows } = await pool.query<{ newest: Date | null }>(
    `SELECT max(open_time) AS newest FROM candles WHERE pair = $1 AND interval = '1m'`,
    [pair],
  );
  return rows[0]?.newest?.getTime() ?? null;
}

/** The metrics and readiness server every long-running command serves. */
const opsModule = (): Promise<typeof OpsServer> => import('../lib/ops-server.ts');
/** Bus and feature store: the stream runtime. */
const runtime = (): Promise<typeof Runtime> => import('../streams/runtime.ts');

/**
 * How long `tickcast start` holds the simulated market for its first model (see there): beyond
 * it the market starts, and the predictor loads the model at its next poll.
 */
const FIRST_MODEL_WAIT_MS = 20_000;

function setup(): { config: Config; logger: Logger } {
  try {
    const config = loadConfig();
    return { config, logger: createLogger(config.LOG_LEVEL) };
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

const positiveNumber = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
  return n;
};
const nonNegativeInteger = (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number >= 0');
  return n;
};
const isoTime = (value: string): number => {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidArgumentError('must be an ISO date, e.g. 2023-04-04T00:00:00Z');
  return t;
};

/** The sink that publishes a source's events to the market-events topic, keyed by pair. */
function busSink(bus: Bus): MarketSink {
  return (events: MarketEvent[]) =>
    bus.publish(events.map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value })));
}

interface SourceFlags {
  source: SourceChoice;
  replay?: string;
  pair: string;
  speed: number;
  catchUp: number;
  from?: number;
  to?: number;
  fromStart?: boolean;
}

function sourceOptions(flags: SourceFlags): SourceOptions {
  return {
    source: flags.source,
    replay: flags.replay,
    pair: flags.pair,
    speed: flags.speed,
    catchUpMinutes: flags.catchUp,
    from: flags.from,
    to: flags.to,
    fromStart: flags.fromStart,
  };
}

function withSourceFlags(
  command: Command,
  defaults: { source: SourceChoice; speed: number; catchUp: number },
): Command {
  return command
    .addOption(
      new Option(
        '--source <source>',
        'where trades come from: kraken, replay, simulated, or auto (Kraken, else fallback)',
      )
        .choices(['auto', 'kraken', 'replay', 'simulated'])
        .default(defaults.source),
    )
    .option('--replay <file>', 'Kraken 1-minute candle CSV (.csv/.csv.gz) or tickcast recording (.jsonl/.jsonl.gz)')
    .option('--pair <pair>', 'pair of a candle CSV (the file has no pair column)', 'BTC/USD')
    .option('--speed <n>', 'replay speed: N times real time, 0 as fast as possible', positiveNumber, defaults.speed)
    .option(
      '--catch-up <minutes>',
      "replay a candle file's first N minutes as fast as possible, then at --speed (history before live pace)",
      nonNegativeInteger,
      defaults.catchUp,
    )
    .option('--from <iso>', 'replay candles from this time', isoTime)
    .option('--to <iso>', 'replay candles before this time', isoTime)
    .option('--from-start', "replay from the file's first line, not from the position a previous run saved");
}

/**
 * Scheduled and drift-triggered retraining from the feature store (retraining.ts): the
 * error monitor's alerts arrive on the bus.
 */
async function startRetraining(config: Config, bus: Bus, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const [{ TrainChild }, { Retraining }] = await Promise.all([import('./train-child.ts'), import('./retraining.ts')]);
  const trainer = new TrainChild();
  const retraining = new Retraining(
    {
      pairs: config.PAIRS,
      horizons: config.PREDICTION_HORIZONS.map(Number),
      intervalMs: config.RETRAIN_INTERVAL_MS,
      minSpacingMs: config.RETRAIN_MIN_SPACING_MS,
    },
    {
      train: (pair, horizon) => trainer.run(['--pair', pair, '--horizon', String(horizon)]),
      cancel: () => trainer.stop(),
    },
    logger.child({ component: 'retraining' }),
  );
  retraining.start();
  const alerts = await bus.consume({
    groupId: 'retraining-alerts',
    topics: [TOPICS.modelAlerts.name],
    fromBeginning: false,
    live: true,
    handler: async (records) => {
      for (const record of records) {
        // A malformed alert is skipped: it must not stop the feed the other alerts arrive on.
        let alert;
        try {
          alert = decodeValue(modelAlertSchema, record);
        } catch {
          continue;
        }
        retraining.onAlert(alert.pair, alert.horizonMinutes);
      }
    },
  });
  return {
    stop: async () => {
      await alerts.stop();
      await retraining.stop();
    },
  };
}

const program = new Command('tickcast')
  .description('Real-time crypto price prediction: trades -> candles -> indicators -> feature store')
  .showHelpAfterError();

withSourceFlags(
  program
    .command('start')
    .description('run the whole pipeline in one process (embedded default unless services are configured)'),
  // A candle replay's first 70 minutes at once: the indicators need 60 before the first
  // prediction, so it comes seconds after the start rather than a paced hour of replay later.
  { source: 'auto', speed: 60, catchUp: 70 },
).action(async (flags: SourceFlags) => {
  const { config, logger } = setup();
  const lifecycle = new Lifecycle(logger, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  const [{ chooseSource }, { trainInitialModels }] = await Promise.all([
    import('./sources.ts'),
    import('./bootstrap.ts'),
  ]);
  const opened: { store?: Database } = {};
  const source = await chooseSource(
    config,
    {
      ...sourceOptions(flags),
      // Asked only once the source runs, after the feature store opened.
      storedThrough: async (pair) => {
        if (!opened.store) throw new Error('the feature store is not open');
        return newestStoredMinute(opened.store.pool, pair);
      },
    },
    logger,
  );
  // The first (bootstrap) models train in a child process from here on, beside the rest of the
  // start-up (loading the service's modules, the feature store, the processors, the gateway):
  // they need the source's history only. The full models follow once the service runs.
  // With MLflow, as before: the registry is asked once the predictor found it answering (it
  // waits for MLflow at start, not ready meanwhile), not failed on before it.
  let running = (): void => {};
  const fullTrainingAfter = new Promise<void>((resolve) => (running = resolve));
  const startTraining = (): ReturnType<typeof trainInitialModels> =>
    trainInitialModels(
      config,
      source.name === 'simulated'
        ? { kind: 'simulated', pairs: config.PAIRS }
        : source.name === 'kraken-ws'
          ? { kind: 'kraken', pairs: config.PAIRS }
          : { kind: 'replay', pair: flags.pair, file: flags.replay },
      logger,
      { fullTrainingAfter },
    );
  const early = config.MLFLOW_TRACKING_URI ? undefined : await startTraining();
  const { createBus, openFeatureStore, startProcessor } = await runtime();
  // The feature store opens (PGlite: seconds of WebAssembly) while the API's modules load (tsx
  // reads and transforms them on its loader thread). A failure here ends the process (exit 1).
  const storeOpening = openFeatureStore(config, logger);
  storeOpening.catch(() => undefined);
  const [{ apiBanner, startApi }, { opsServerOptions, startOpsServer }, news] = await Promise.all([
    import('./api.ts'),
    opsModule(),
    import('../streams/news/from-config.ts'),
  ]);
  const bus = await createBus(config, logger);
  lifecycle.add('bus', () => bus.close());
  const store = await storeOpening;
  opened.store = store;
  lifecycle.add('feature store', () => store.close());
  const processors: { name: string; task: Awaited<ReturnType<typeof startProcessor>> }[] = [];
  // Stopped together: each finishes its batch and commits on its own, and one after another
  // each waits out its consumer's fetch (up to 5 s), well beyond SHUTDOWN_TIMEOUT_MS in all.
  lifecycle.add('stream processors', () =>
    stopTogether(
      processors.map(({ name, task }) => ({ name, stop: () => task.stop() })),
      logger,
    ),
  );
  const context = { config, logger, bus, database: store };
  for (const name of PROCESSORS)
    if (name !== 'predictor') processors.push({ name, task: await startProcessor(name, context) });
  const abort = new AbortController();
  // Stopping waits for the source to return, so a replay saves its position while the bus is still open.
  let sourceStopped: Promise<unknown> = Promise.resolve();
  lifecycle.add(`source ${source.name}`, async () => {
    abort.abort();
    await sourceStopped;
  });
  const api = await startApi(config, { pool: store.pool, bus, logger });
  lifecycle.add('subgraphs', async () => void (await Promise.all(api.subgraphs.map((subgraph) => subgraph.stop()))));
  lifecycle.add('gateway', () => api.gateway.stop());
  const opsServer = await startOpsServer(opsServerOptions(config), () => api.gateway.ready());
  lifecycle.add('ops server', () => opsServer.close());
  // The simulated market waits, with the predictor, for the first model (at most
  // FIRST_MODEL_WAIT_MS; trained since launch, it is usually there): the predictor loads it as
  // it starts, so the warm-up's last minutes are predicted at once, not the first live minute
  // that closes on the wall clock up to a minute later. A replay does not wait (its paced
  // minutes come every second, the predictor loads the model at its next poll), nor does
  // Kraken's live feed (trades it did not read would be lost).
  if (early && source.name === 'simulated') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      early.firstModel,
      new Promise((resolve) => (timer = setTimeout(resolve, FIRST_MODEL_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }
  processors.push({ name: 'predictor', task: await startProcessor('predictor', context) });
  const training = early ?? (await startTraining());
  lifecycle.add('initial training', () => training.stop());
  logger.info(
    {
      bus: bus.kind,
      store: store.kind,
      source: source.name,
      graphql: api.gateway.url,
      metrics: `http://127.0.0.1:${opsServer.port}/metrics`,
    },
    'tickcast is running',
  );
  process.stdout.write(`\n${apiBanner(api)}\n\n`);
  const sourceDone = source
    .start(busSink(bus), abort.signal)
    .then(() => logger.info({ source: source.name }, 'source finished'));
  // News is auxiliary: a news source that fails is logged and the rest keeps running.
  const newsDone = news
    .newsSourcesFromConfig(config, logger, 'auto', { fromStart: flags.fromStart === true })
    .map((newsSource) =>
      newsSource
        .start(news.newsSink(bus, config.EVENT_MAX_AHEAD_MS), abort.signal)
        .then(() => logger.info({ source: newsSource.name }, 'news source finished'))
        .catch((error: unknown) => logger.error({ source: newsSource.name, err: error }, 'news source stopped')),
    );
  sourceStopped = Promise.allSettled([sourceDone, ...newsDone]);
  running();
  const retraining = await startRetraining(config, bus, logger);
  lifecycle.add('retraining', () => retraining.stop());
  // A finished replay leaves the pipeline running (its results stay queryable); a failure stops everything.
  await lifecycle.runUntilSignal(
    Promise.race([sourceDone.then(() => new Promise(() => undefined)), ...processors.map(({ task }) => task.done)]),
  );
});

program
  .command('stream')
  .description('run one stream processor against Kafka')
  .addArgument(new Command().createArgument('<processor>', 'processor to run').choices(PROCESSORS))
  .action(async (name: ProcessorName) => {
    const { config, logger } = setup();
    const [{ createBus, openFeatureStore, startProcessor }, { opsServerOptions, startOpsServer }] = await Promise.all([
      runtime(),
      opsModule(),
    ]);
    if (!config.KAFKA_BROKERS) {
      logger.error(
        'a single processor needs Kafka: set KAFKA_BROKERS (or run `tickcast start` for the embedded default)',
      );
      process.exit(2);
    }
    const lifecycle = new Lifecycle(logger, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
    const bus = await createBus(config, logger);
    lifecycle.add('bus', () => bus.close());
    // The predictions writer writes the feature store (what the API reads) unless it is a
    // process for Elasticsearch alone: ELASTICSEARCH_URL without DATABASE_URL.
    const needsStore =
      name === 'store-writer' ||
      name === 'sentiment-writer' ||
      (name === 'predictions-writer' && (!config.ELASTICSEARCH_URL || config.DATABASE_URL !== undefined));
    const database = needsStore ? await openFeatureStore(config, logger) : undefined;
    if (database) lifecycle.add('feature store', () => database.close());
    // Up before the processor starts: a predictor waiting for MLflow, or a writer for
    // Elasticsearch, answers /ready 503 naming it meanwhile instead of not answering at all.
    let started = false;
    const ops = await startOpsServer(opsServerOptions(config), () => started);
    lifecycle.add('ops server', () => ops.close());
    // A start that fails (MLflow down beyond MLFLOW_MAX_OUTAGE_MS) stops the process like any failure: exit 1.
    const running = startProcessor(name, { config, logger, bus, database }).then((task) => {
      lifecycle.add(name, () => task.stop());
      started = true;
      logger.info({ processor: name, metricsPort: ops.port }, 'processor running');
      return task.done;
    });
    await lifecycle.runUntilSignal(running);
  });

withSourceFlags(program.command('ingest').description('publish trades from a source to the bus'), {
  source: 'kraken',
  speed: 0,
  catchUp: 0,
}).action(async (flags: SourceFlags) => {
  const { config, logger } = setup();
  const [{ createBus }, { chooseSource }, { opsServerOptions, startOpsServer }] = await Promise.all([
    runtime(),
    import('./sources.ts'),
    opsModule(),
  ]);
  const lifecycle = new Lifecycle(logger, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  const bus = await createBus(config, logger);
  lifecycle.add('bus', () => bus.close());
  const source = await chooseSource(config, sourceOptions(flags), logger);
  const abort = new AbortController();
  let sourceStopped: Promise<unknown> = Promise.resolve();
  lifecycle.add('source', async () => {
    abort.abort();
    await sourceStopped;
  });
  const ops = await startOpsServer(opsServerOptions(config), () => true);
  lifecycle.add('ops server', () => ops.close());
  logger.info({ source: source.name }, 'ingesting');
  const running = source.start(busSink(bus), abort.signal);
  sourceStopped = running.catch(() => undefined);
  await lifecycle.runUntilSignal(running);
});

program
  .command('record')
  .description('capture live Kraken trades to a recording (JSON Lines, .gz to compress)')
  .requiredOption('--out <file>', 'recording to append to, e.g. trades.jsonl.gz')
  .option('--duration <seconds>', 'stop after this many seconds', positiveNumber)
  .action(async (flags: { out: string; duration?: number }) => {
    const { config, logger } = setup();
    const [{ createRecordingWriter }, { KrakenWsTradeSource }] = await Promise.all([
      import('../streams/sources/recording.ts'),
      import('../streams/sources/kraken-ws.ts'),
    ]);
    const writer = createRecordingWriter(flags.out);
    const abort = new AbortController();
    const lifecycle = new Lifecycle(logger, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
    lifecycle.add('recording', () => writer.close());
    lifecycle.add('source', async () => abort.abort());
    const source = new KrakenWsTradeSource({ pairs: config.PAIRS, url: config.KRAKEN_WS_URL, logger });
    const timer =
      flags.duration === undefined
        ? undefined
        : setTimeout(() => void lifecycle.stop('duration reached'), flags.duration * 1000);
    logger.info({ out: flags.out, pairs: config.PAIRS }, 'recording');
    await lifecycle.runUntilSignal(source.start(writer.sink, abort.signal));
    clearTimeout(timer);
    logger.info({ events: writer.count(), out: flags.out }, 'recording closed');
  });

const backfill = program
  .command('backfill')
  .description('fetch history from Kraken REST (resumable, rate-limit aware)');

backfill
  .command('trades')
  .description('publish historical trades to the bus, where the candles processor picks them up')
  .requiredOption('--pair <pair>', 'pair, e.g. BTC/USD')
  .requiredOption('--from <iso>', 'first trade time', isoTime)
  .option('--to <iso>', 'last trade time (default: now)', isoTime)
  .option('--checkpoint <file>', 'resume file (default: <data dir>/backfill-trades-<pair>.json)')
  .action(async (flags: { pair: string; from: number; to?: number; checkpoint?: string }) => {
    const { config, logger } = setup();
    const [{ createBus }, { KrakenRestClient }] = await Promise.all([
      runtime(),
      import('../streams/sources/kraken-rest.ts'),
    ]);
    const bus = await createBus(config, logger);
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    const client = new KrakenRestClient({ baseUrl: config.KRAKEN_REST_URL, logger });
    const result = await client.backfillTrades(
      {
        pair: flags.pair,
        startMs: flags.from,
        endMs: flags.to ?? Date.now(),
        checkpointPath: flags.checkpoint ?? checkpointFile(config, 'trades', flags.pair),
      },
      busSink(bus),
      abort.signal,
    );
    await bus.close();
    logger.info(
      result,
      result.status === 'complete' ? 'backfill complete' : 'backfill stopped: run the same command to resume',
    );
  });

backfill
  .command('ohlc')
  .description('save historical candles as a Kraken OHLC CSV that `--replay` accepts (Kraken serves the last 720 only)')
  .requiredOption('--pair <pair>', 'pair, e.g. BTC/USD')
  .requiredOption('--from <iso>', 'first candle open time', isoTime)
  .option('--to <iso>', 'last candle open time (default: now)', isoTime)
  .option('--interval <minutes>', 'candle interval in minutes', positiveNumber, 1)
  .requiredOption('--out <file>', 'CSV to write, e.g. btc.csv')
  .action(async (flags: { pair: string; from: number; to?: number; interval: number; out: string }) => {
    const { config, logger } = setup();
    const [{ KrakenRestClient }, { toKrakenCsv }, { writeFile }] = await Promise.all([
      import('../streams/sources/kraken-rest.ts'),
      import('../lib/candle-csv.ts'),
      import('node:fs/promises'),
    ]);
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    const client = new KrakenRestClient({ baseUrl: config.KRAKEN_REST_URL, logger });
    const result = await client.backfillOhlc(
      {
        pair: flags.pair,
        intervalMinutes: flags.interval,
        startMs: flags.from,
        ...(flags.to ? { endMs: flags.to } : {}),
      },
      abort.signal,
    );
    await writeFile(flags.out, toKrakenCsv(result.rows));
    logger.info({ ...result, rows: result.rows.length, out: flags.out }, 'candles saved');
  });

program
  .command('subgraph')
  .description('run one GraphQL subgraph server')
  .addArgument(new Command().createArgument('<name>', 'subgraph to run').choices(SUBGRAPHS))
  .action(async (name: SubgraphName) => {
    const { config, logger } = setup();
    const [
      { createBus, openFeatureStore },
      { subgraphDefinition },
      { startSubgraph },
      { opsServerOptions, startOpsServer },
    ] = await Promise.all([
      runtime(),
      import('../subgraphs/catalog.ts'),
      import('../subgraphs/server.ts'),
      opsModule(),
    ]);
    if (!config.DATABASE_URL && name !== 'models') {
      logger.error('a standalone subgraph reads the shared feature store: set DATABASE_URL (or run `tickcast start`)');
      process.exit(2);
    }
    const lifecycle = new Lifecycle(logger, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
    const database = await openFeatureStore(config, logger);
    lifecycle.add('feature store', () => database.close());
    if (!config.KAFKA_BROKERS) logger.warn('no KAFKA_BROKERS: subscriptions of this subgraph will receive no events');
    const bus = await createBus(config, logger);
    lifecycle.add('bus', () => bus.close());
    const subgraph = await startSubgraph(subgraphDefinition(name, config), {
      pool: database.pool,
      bus,
      logger,
      port: config.SUBGRAPH_PORT ?? DEFAULT_SUBGRAPH_PORTS[name],
      host: config.SUBGRAPH_HOST,
      // Unset: public scope only (startSubgraph warns); the gateway must share the secret.
      ...(config.TICKCAST_INTERNAL_SECRET ? { internalSecrets: config.TICKCAST_INTERNAL_SECRET } : {}),
    });
    lifecycle.add(`subgraph ${name}`, () => subgraph.stop());
    const ops = await startOpsServer(opsServerOptions(config), () => true);
    lifecycle.add('ops server', () => ops.close());
    logger.info({ subgraph: name, url: subgraph.url, metricsPort: ops.port }, 'subgraph running');
    await lifecycle.runUntilSignal();
  });

program
  .command('gateway')
  .description('run the federation gateway in front of the subgraphs (SUBGRAPH_<NAME>_URL)')
  .action(async () => {
    const { config, logger } = setup();
    const [{ createGateway }, { gatewayConfigFromEnv }, { opsServerOptions, startOpsServer }] = await Promise.all([
      import('../gateway/server.ts'),
      import('../gateway/config.ts'),
      opsModule(),
    ]);
    const lifecycle = new Lifecycle(logger, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
    const gateway = await createGateway(await gatewayConfigFromEnv(config), { logger });
    lifecycle.add('gateway', () => gateway.stop());
    const ops = await startOpsServer(opsServerOptions(config), () => gateway.ready());
    lifecycle.add('ops server', () => ops.close());
    if (gateway.authDisabled)
      logger.warn('AUTHENTICATION IS DISABLED (GATEWAY_AUTH=disabled): for local development only');
    if (!config.TICKCAST_INTERNAL_SECRET)
      logger.warn(
        'no TICKCAST_INTERNAL_SECRET: requests to the subgraphs go unsigned, so they serve public scope only (no admin mutations)',
      );
    logger.info({ url: gateway.url, metricsPort: ops.port }, 'gateway running');
    await lifecycle.runUntilSignal();
  });

program
  .command('api-key')
  .description('create an API key: prints the key once and the entry to add to GATEWAY_API_KEYS')
  .requiredOption('--id <id>', 'key id, e.g. dashboard-prod')
  .addOption(new Option('--scopes <scopes>', 'read, or read+admin').choices(['read', 'read+admin']).default('read'))
  .action(async (flags: { id: string; scopes: 'read' | 'read+admin' }) => {
    const { generateApiKey } = await import('../gateway/auth.ts');
    const secret = loadConfig().GATEWAY_API_KEY_SECRET;
    const { key, entry } = generateApiKey(flags.id, flags.scopes === 'read' ? ['read'] : ['read', 'admin'], secret);
    process.stdout.write(`key (give to the client, shown once): ${key}\nGATEWAY_API_KEYS entry: ${entry}\n`);
    if (!secret) {
      process.stderr.write(
        'note: GATEWAY_API_KEY_SECRET is not set, so the entry is an unkeyed sha256 hash; set it (32+ characters, ' +
          'the same on every gateway) to issue hmac-sha256 entries\n',
      );
    }
  });

program
  .command('evaluate')
  .description(
    'train and evaluate the models on ../shared/data candles; prints holdout metrics vs persistence (--help for options)',
  )
  .helpOption(false)
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (_flags: unknown, command: Command) => {
    const { main: evaluateMain } = await import('../training/report.ts');
    process.exitCode = await evaluateMain(command.args);
  });

program
  .command('train')
  .description(
    'train one pair and horizon, register it in the model registry, promote it only if it beats persistence and the champion',
  )
  .requiredOption('--pair <pair>', 'pair, e.g. BTC/USD')
  .requiredOption('--horizon <minutes>', 'horizon in minutes', positiveNumber)
  .option('--data <file>', 'train from a Kraken 1-minute candle CSV instead of the feature store')
  .option(
    '--partner-data <file>',
    "the partner pair's candle CSV (BTC/USD for ETH/USD and the reverse), for the cross-asset candidates; " +
      'without --data the partner is read from the feature store',
  )
  .option('--test-days <days>', 'held-out final stretch', positiveNumber, 7)
  .option('--validation-days <days>', 'selection and calibration stretch before it', positiveNumber, 7)
  .option('--simulated', 'the --data file is simulated history: say so in the run (tickcast start does this offline)')
  .option(
    '--bootstrap',
    "a quick first model (tickcast start's): the history's last day, a smaller search, registered as challenger",
  )
  .option(
    '--sentiment',
    "add the coin's news sentiment features from the feature store when it has any (the predictor does not serve them yet)",
  )
  .action(
    async (flags: {
      pair: string;
      horizon: number;
      data?: string;
      partnerData?: string;
      testDays: number;
      validationDays: number;
      sentiment?: boolean;
      simulated?: boolean;
      bootstrap?: boolean;
    }) => {
      const { config, logger } = setup();
      const [
        { openRegistry },
        { historyFromFile, historyFromStore },
        { crossAssetDatasetOptions, partnerOf },
        { trainAndRegister },
        { bootstrapTraining },
      ] = await Promise.all([
        import('../registry/index.ts'),
        import('../training/history.ts'),
        import('../training/cross-asset.ts'),
        import('../training/train.ts'),
        import('../training/bootstrap.ts'),
      ]);
      // The feature store (and the stream runtime that opens it) only when the history is there.
      const openFeatureStore = async (...args: Parameters<typeof Runtime.openFeatureStore>): Promise<Database> =>
        (await runtime()).openFeatureStore(...args);
      const registry = openRegistry({
        mlflowTrackingUri: config.MLFLOW_TRACKING_URI,
        dataDir: config.TICKCAST_DATA_DIR,
      });
      let series;
      if (flags.data) {
        series = await historyFromFile(flags.data);
      } else {
        const database = await openFeatureStore(config, logger);
        series = await historyFromStore(database.pool, flags.pair).finally(() => database.close());
      }
      if (series.length === 0) {
        logger.error(
          { pair: flags.pair },
          'no one-minute candles for this pair: backfill or replay history first, or pass --data FILE',
        );
        process.exit(2);
      }
      let extraFeatures: DatasetOptions | null = null;
      let crossAsset: DatasetOptions | null = null;
      const partner = partnerOf(flags.pair, config.CROSS_ASSET_PARTNERS);
      if (partner && !flags.sentiment) {
        let partnerSeries: Awaited<ReturnType<typeof historyFromFile>> | undefined;
        if (flags.partnerData) partnerSeries = await historyFromFile(flags.partnerData);
        else if (!flags.data) {
          const database = await openFeatureStore(config, logger);
          partnerSeries = await historyFromStore(database.pool, partner).finally(() => database.close());
        }
        if (partnerSeries && partnerSeries.length > 0) crossAsset = crossAssetDatasetOptions(partnerSeries);
        logger.info(
          { pair: flags.pair, partner, partnerCandles: partnerSeries?.length ?? 0 },
          crossAsset
            ? `cross-asset candidates read ${partner}'s returns`
            : `no ${partner} history: own-pair candidates only`,
        );
      }
      if (flags.sentiment) {
        const [{ sentimentDatasetOptions, sentimentFromStore }, { coinOfPair }] = await Promise.all([
          import('../training/sentiment.ts'),
          import('../streams/sentiment/coins.ts'),
        ]);
        const database = await openFeatureStore(config, logger);
        const rows = await sentimentFromStore(database.pool, coinOfPair(flags.pair)).finally(() => database.close());
        extraFeatures = sentimentDatasetOptions(rows);
        logger.info(
          { pair: flags.pair, rows: rows.length },
          extraFeatures ? 'training with sentiment features' : 'no sentiment features stored: training without',
        );
      }
      const bootstrap = flags.bootstrap ? bootstrapTraining(series) : null;
      const outcome = await trainAndRegister({
        registry,
        pair: flags.pair,
        horizonMinutes: flags.horizon,
        series: bootstrap?.series ?? series,
        bootstrap: bootstrap !== null,
        dataSource: flags.simulated
          ? `SIMULATED history, not market data (${basename(flags.data ?? '')})`
          : flags.data
            ? basename(flags.data)
            : 'feature store',
        settings: {
          testDays: flags.testDays,
          validationDays: flags.validationDays,
          ...(extraFeatures ? { extraFeatures } : {}),
          ...(crossAsset ? { crossAsset } : {}),
          ...bootstrap?.settings,
        },
        log: (line) => process.stderr.write(`[train ${flags.pair} ${flags.horizon}m] ${line}\n`),
      });
      const t = outcome.result.test;
      process.stdout.write(
        [
          `${outcome.modelName} v${outcome.version} -> ${outcome.alias} (${outcome.reason})`,
          `  registry: ${registry.kind}${outcome.runUrl ? ` ${outcome.runUrl}` : ''}`,
          `  holdout rows ${t.n}: MAE ${t.mae.toFixed(4)} USD, persistence ${t.baselineMae.toFixed(4)} USD, ratio ${t.maeRatio.toFixed(4)}`,
          `  directional accuracy ${(100 * t.directionalAccuracy).toFixed(1)}% (over moving rows; zero predictions count as misses), 90% interval coverage ${(100 * t.intervalCoverage).toFixed(1)}%`,
          '',
        ].join('\n'),
      );
      logger.info({ model: outcome.modelName, version: outcome.version, alias: outcome.alias }, 'training finished');
    },
  );

program
  .command('migrate')
  .description('apply the feature store migrations (schema/sql/postgres)')
  .action(async () => {
    const { config, logger } = setup();
    const database = await (await runtime()).openFeatureStore(config, logger);
    await database.close();
  });

program
  .command('topics')
  .description('create the Kafka topics of schema/topics.ts that do not exist yet')
  .action(async () => {
    const { config, logger } = setup();
    const bus = await (await runtime()).createBus(config, logger);
    await bus.close();
  });

program
  .command('news')
  .description('publish news items to the bus (sentiment extractor input)')
  .addOption(
    new Option('--source <source>', 'auto: configured live sources, else the headline dataset replay')
      .choices(['auto', 'cryptopanic', 'rss', 'replay'])
      .default('auto'),
  )
  .option('--file <file>', 'headline dataset to replay (default NEWS_REPLAY_FILE)')
  .option('--limit <n>', 'replay at most this many headlines, oldest first', positiveNumber)
  .option('--from-start', "replay from the dataset's first row, not from the position a previous run saved")
  .action(async (flags: { source: NewsSourceChoice; file?: string; limit?: number; fromStart?: boolean }) => {
    const { config, logger } = setup();
    const [{ newsSink, newsSourcesFromConfig }, { createBus }, { opsServerOptions, startOpsServer }] =
      await Promise.all([import('../streams/news/from-config.ts'), runtime(), opsModule()]);
    const sources = newsSourcesFromConfig(config, logger, flags.source, {
      ...(flags.file === undefined ? {} : { path: flags.file }),
      ...(flags.limit === undefined ? {} : { limit: flags.limit }),
      fromStart: flags.fromStart === true,
    });
    if (sources.length === 0) process.exit(2);
    const lifecycle = new Lifecycle(logger, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
    const bus = await createBus(config, logger);
    lifecycle.add('bus', () => bus.close());
    const abort = new AbortController();
    lifecycle.add('news sources', async () => abort.abort());
    const ops = await startOpsServer(opsServerOptions(config), () => true);
    lifecycle.add('ops server', () => ops.close());
    logger.info({ sources: sources.map((s) => s.name) }, 'publishing news');
    // One feed that refuses us (404, not a feed) stops alone; the command fails only when all have.
    const running = sources.map((source) =>
      source.start(newsSink(bus, config.EVENT_MAX_AHEAD_MS), abort.signal).catch((error: unknown) => {
        logger.error({ source: source.name, err: error }, 'news source stopped; the others go on');
        throw error;
      }),
    );
    await lifecycle.runUntilSignal(
      Promise.allSettled(running).then((results) => {
        if (results.every((r) => r.status === 'rejected')) throw new Error('every news source stopped');
      }),
    );
  });

program
  .command('sentiment')
  .description('news sentiment tools')
  .command('eval')
  .description("score the real headlines with the offline scorer and compare with the dataset's sentiment column")
  .option('--file <file>', 'headline dataset (default NEWS_REPLAY_FILE)')
  .action(async (flags: { file?: string }) => {
    const { config } = setup();
    const { evaluateOfflineScorer } = await import('../streams/sentiment/evaluate.ts');
    process.stdout.write(`${await evaluateOfflineScorer(flags.file ?? config.NEWS_REPLAY_FILE)}\n`);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  // A command that failed before it was running: one line saying what to do, not a stack.
  let config: Pick<Config, 'KAFKA_BROKERS' | 'DATABASE_URL' | 'LOG_LEVEL'> | undefined;
  try {
    config = loadConfig();
  } catch {
    config = undefined;
  }
  process.stderr.write(
    `tickcast: ${explainStartupError(error, config ?? { KAFKA_BROKERS: undefined, DATABASE_URL: undefined })}\n`,
  );
  if (config?.LOG_LEVEL === 'debug' || config?.LOG_LEVEL === 'trace') console.error(error);
  process.exit(1);
}
