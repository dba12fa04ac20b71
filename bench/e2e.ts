/**
 * End to end: for each one-minute candle close, the time from publishing the trade that
 * closes the window until a graphql-ws subscriber of `predictionCreated`, through the real
 * gateway, has the close's predictions; p50/p99 against the 50 ms goal.
 *
 * The system is built in this process as `tickcast start` builds it (streams/runtime.ts and
 * cli/api.ts: the bus, the feature store, every stream processor, the five subgraphs and the
 * gateway), without a market source: the bench publishes the trades to the market-events
 * topic itself, as the sources do. Embedded (the in-process bus and PGlite, `npm start`'s
 * default) always; over Kafka and PostgreSQL too when KAFKA_BROKERS and DATABASE_URL are set,
 * in topics, groups and a schema of its own. Models stay in a local registry (MLflow's model
 * names are not namespaced). Initial training and retraining are not started: they do not
 * run on the path measured.
 *
 * Trades are the real BTC/USD minutes as a candle replay turns them into trades
 * (streams/sources/candle-replay.ts). A one-minute window closes when the pair's event time
 * passes its end by CANDLE_ALLOWED_LATENESS_MS (streams/candles/aggregator.ts): the closing
 * trade is the first of the next minute at or past that time. The indicators need an hour
 * before a feature vector exists, so the first WARM_MINUTES go in at once; then, per measured
 * close, the minute's other trades are published and left to settle, the clock starts, the
 * closing trade is published alone, and the bench waits for the close's predictions (one
 * per horizon) at the subscriber. It also follows the candles, indicators and predictions
 * topics on the bus itself, so the report says where the time went.
 *
 * The models: gradient-boosted trees per horizon fitted here on the file's first days, as
 * the inference bench does (their accuracy is not what is measured).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadCandleCsv, type OhlcMinute } from '../lib/candle-csv.ts';
import { loadConfig } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import type { Config } from '../lib/config.ts';
import { gatewayConfigFromEnv, type GatewayConfig } from '../gateway/config.ts';
import { createGateway, type RunningGateway } from '../gateway/server.ts';
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs.ts';
import { subgraphDefinition } from '../subgraphs/catalog.ts';
import { startSubgraph, type RunningSubgraph } from '../subgraphs/server.ts';
import type pg from 'pg';
import { openRegistry } from '../registry/index.ts';
import {
  CHAMPION_ALIAS,
  FEATURES_ARTIFACT,
  INTERVAL_METRIC,
  ONNX_ARTIFACT,
  modelName,
} from '../registry/model-names.ts';
import type { ModelRegistry } from '../registry/registry.ts';
import type { Trade } from '../schema/events.ts';
import { TOPICS } from '../schema/topics.ts';
import type { Bus, InboundRecord, RunningTask } from '../streams/bus/bus.ts';
import { tradesForMinute } from '../streams/sources/candle-replay.ts';
import { createBus, openFeatureStore, PROCESSORS, startProcessor } from '../streams/runtime.ts';
import { buildDataset, indicatorSeries } from '../training/dataset.ts';
import { featureNames } from '../training/features.ts';
import { indicatorInputs } from '../training/history.ts';
import { fitTrees } from '../training/models/trees.ts';
import { toOnnx } from '../training/onnx/export.ts';
import { BTC_CANDLES, requireData } from '../test/support/data.ts';
import { isolate } from '../test/support/services.ts';
import { OPEN_GATEWAY_ENV } from './subscriptions/gateways.ts';

const PAIR = 'BTC/USD';
const HORIZONS = [1, 5, 15];
const MINUTE_MS = 60_000;
const GOAL_P99_MS = 50;
/** The indicators' longest window (60 minutes) and some: predictions flow from there on. */
const WARM_MINUTES = 70;
const CLOSES = Number(process.env['BENCH_E2E_CLOSES'] ?? 200);
/** Before each measured close the minute's other trades get this long, so the close starts from an idle pipeline. */
const SETTLE_MS = 150;
/** A close whose predictions have not all arrived by then counts as missing. */
const CLOSE_TIMEOUT_MS = 15_000;
/** Days of the file the models are fitted on (the measured minutes come from the end of the file). */
const TRAINING_MINUTES = 3 * 1440;

type System = 'embedded' | 'kafka';

/** When (performance.now()) each stage of a close was seen, keyed by the closed window's open time. */
class Arrivals {
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();

  note(stage: string, openTime: number): void {
    const key = `${stage}|${openTime}`;
    if (this.seen.has(key)) return;
    this.seen.set(key, performance.now());
    this.waiters.get(key)?.();
  }

  at(stage: string, openTime: number): number | undefined {
    return this.seen.get(`${stage}|${openTime}`);
  }

  /** Resolves true once every stage was seen for `openTime`, false after `timeoutMs`. */
  async all(stages: readonly string[], openTime: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (const stage of stages) {
      const key = `${stage}|${openTime}`;
      if (this.seen.has(key)) continue;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const arrived = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), left);
        this.waiters.set(key, () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      this.waiters.delete(key);
      if (!arrived) return false;
    }
    return true;
  }

  /** Forgets a close once measured: the map holds the closes in flight only. */
  forget(openTime: number): void {
    for (const key of this.seen.keys()) if (key.endsWith(`|${openTime}`)) this.seen.delete(key);
  }
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN);

export async function run(): Promise<void> {
  const minutes = await loadCandleCsv(requireData(BTC_CANDLES));
  const training = minutes.slice(0, TRAINING_MINUTES);
  const live = minutes.slice(-(WARM_MINUTES + CLOSES + 1));
  const models = fitModels(training);
  const systems: System[] =
    process.env['KAFKA_BROKERS'] && process.env['DATABASE_URL'] ? ['embedded', 'kafka'] : ['embedded'];
  console.log(
    `e2e: ${CLOSES} one-minute closes of real ${PAIR} (after ${WARM_MINUTES} warm-up minutes), horizons ${HORIZONS.join(', ')}m, ` +
      `one graphql-ws subscriber of predictionCreated through the gateway; time from publishing the closing trade`,
  );
  for (const system of systems) await measure(system, live, models);
}

interface FittedModel {
  readonly horizon: number;
  readonly onnx: Uint8Array;
  /** 90th percentile of |log return| over the horizon on the training minutes: persistence's split-conformal width. */
  readonly halfWidth: number;
}

function fitModels(training: readonly OhlcMinute[]): FittedModel[] {
  const series = indicatorSeries(indicatorInputs(training));
  return HORIZONS.map((horizon) => {
    const dataset = buildDataset(series, horizon);
    const model = fitTrees(
      { featureNames: dataset.featureNames, X: dataset.rows.map((r) => r.x), y: dataset.rows.map((r) => r.y) },
      { rounds: 50, maxDepth: 4 },
    );
    const abs = dataset.rows.map((r) => Math.abs(r.y)).sort((a, b) => a - b);
    return { horizon, onnx: toOnnx(model, { horizonMinutes: horizon, pair: PAIR }), halfWidth: percentile(abs, 0.9) };
  });
}

async function register(registry: ModelRegistry, fitted: FittedModel): Promise<void> {
  const name = modelName(PAIR, fitted.horizon);
  const experiment = await registry.ensureExperiment(`${name}-bench`);
  const run = await registry.createRun(experiment.id);
  await registry.uploadArtifact(run.runId, ONNX_ARTIFACT, fitted.onnx);
  await registry.uploadArtifact(run.runId, FEATURES_ARTIFACT, Buffer.from(JSON.stringify(featureNames())));
  await registry.logMetrics(run.runId, { [INTERVAL_METRIC]: fitted.halfWidth });
  await registry.finishRun(run.runId);
  await registry.createRegisteredModel(name);
  const version = await registry.createVersion(name, run.runId, 'model');
  await registry.setAlias(name, CHAMPION_ALIAS, version.version);
}

type Cleanup = () => Promise<void>;

interface Api {
  readonly subgraphs: RunningSubgraph[];
  gateway?: RunningGateway;
}

async function measure(system: System, live: readonly OhlcMinute[], models: readonly FittedModel[]): Promise<void> {
  const cleanups: Cleanup[] = [];
  try {
    const dir = await mkdtemp(join(tmpdir(), 'tickcast-bench-e2e-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...OPEN_GATEWAY_ENV,
      TICKCAST_DATA_DIR: dir,
      PAIRS: PAIR,
      PREDICTION_HORIZONS: HORIZONS.join(','),
      GATEWAY_PORT: '0',
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
    };
    // Models in the local registry; Elasticsearch is not on the path to a subscriber.
    for (const variable of ['MLFLOW_TRACKING_URI', 'ELASTICSEARCH_URL']) delete env[variable];
    if (system === 'embedded') {
      for (const variable of ['KAFKA_BROKERS', 'DATABASE_URL']) delete env[variable];
    } else {
      const iso = await isolate('e2e');
      cleanups.push(() => iso.close());
      Object.assign(env, iso.env, { LOG_LEVEL: env['LOG_LEVEL'] });
      delete env['ELASTICSEARCH_URL'];
    }
    const config = loadConfig(env);
    const logger = createLogger(config.LOG_LEVEL);
    const registry = openRegistry({ mlflowTrackingUri: undefined, dataDir: dir });
    for (const fitted of models) await register(registry, fitted);

    // As `tickcast start` builds it (cli/main.ts), less the source, news and training.
    const bus = await createBus(config, logger);
    cleanups.push(() => bus.close());
    const database = await openFeatureStore(config, logger);
    cleanups.push(() => database.close());
    const tasks: RunningTask[] = [];
    cleanups.push(async () => void (await Promise.all(tasks.map((task) => task.stop()))));
    for (const name of PROCESSORS) tasks.push(await startProcessor(name, { config, logger, bus, database }));
    const api: Api = { subgraphs: [] };
    cleanups.push(async () => {
      await api.gateway?.stop();
      await Promise.all(api.subgraphs.map((subgraph) => subgraph.stop()));
    });
    const gateway = await startApi(config, { pool: database.pool, bus, logger }, api);

    const arrivals = new Arrivals();
    cleanups.push(await followBus(bus, arrivals));
    const client = await subscribe(gateway.url, arrivals);
    cleanups.push(async () => client.dispose());
    // The subscription reaches the predictions subgraph's live feed asynchronously: give it a moment.
    await sleep(1_000);

    const lateness = config.CANDLE_ALLOWED_LATENESS_MS;
    const trades = live.flatMap((minute) => tradesForMinute(PAIR, minute));
    let next = 0;
    const publishUntil = async (before: (trade: Trade) => boolean): Promise<void> => {
      const batch: Trade[] = [];
      while (next < trades.length && before(trades[next]!)) batch.push(trades[next++]!);
      for (let i = 0; i < batch.length; i += 1_000) {
        await bus.publish(
          batch.slice(i, i + 1_000).map((value) => ({ topic: TOPICS.marketEvents.name, key: PAIR, value })),
        );
      }
    };
    /** Publishes the next trade alone: the one that closes the window before it. */
    const publishClosing = async (): Promise<void> => {
      const value = trades[next++];
      if (!value) throw new Error('the bench ran out of trades');
      await bus.publish([{ topic: TOPICS.marketEvents.name, key: PAIR, value }]);
    };
    const predictionStages = HORIZONS.map((h) => `subscriber ${h}m`);

    // Warm-up: the indicators' hour, then the first close with predictions at the subscriber.
    const firstMeasured = live[WARM_MINUTES]!.time;
    await publishUntil((t) => t.time < firstMeasured + lateness);
    await publishClosing();
    const warmClose = firstMeasured - MINUTE_MS;
    if (!(await arrivals.all(predictionStages, warmClose, 120_000))) {
      throw new Error(`${system}: no predictions for the last warm-up minute within 120 s`);
    }

    const stages = ['candle', 'indicators', ...HORIZONS.map((h) => `bus ${h}m`), ...predictionStages];
    const latencies = new Map<string, number[]>(stages.map((s) => [s, []]));
    const lastOfClose: number[] = [];
    let missing = 0;
    for (let k = 0; k < CLOSES; k++) {
      const openTime = live[WARM_MINUTES + k]!.time;
      const closesAt = openTime + MINUTE_MS + lateness;
      await publishUntil((t) => t.time < closesAt);
      await sleep(SETTLE_MS);
      const started = performance.now();
      await publishClosing();
      const complete = await arrivals.all(predictionStages, openTime, CLOSE_TIMEOUT_MS);
      if (!complete) missing++;
      for (const stage of stages) {
        const at = arrivals.at(stage, openTime);
        if (at !== undefined) latencies.get(stage)!.push(at - started);
      }
      if (complete) lastOfClose.push(Math.max(...predictionStages.map((s) => arrivals.at(s, openTime)!)) - started);
      arrivals.forget(openTime);
    }

    const line = (label: string, values: number[]): string => {
      const sorted = [...values].sort((a, b) => a - b);
      return `    ${label.padEnd(44)} p50 ${percentile(sorted, 0.5).toFixed(1).padStart(7)} ms   p99 ${percentile(sorted, 0.99).toFixed(1).padStart(7)} ms   max ${(sorted.at(-1) ?? NaN).toFixed(1).padStart(7)} ms   (${sorted.length})`;
    };
    console.log(
      `  ${system === 'embedded' ? 'embedded (in-process bus, PGlite)' : `Kafka ${config.KAFKA_BROKERS?.join(',')} + PostgreSQL`}: ${CLOSES} closes, ${missing} without all predictions within ${CLOSE_TIMEOUT_MS / 1000} s`,
    );
    console.log('   from the closing trade until');
    console.log(line('the final 1m candle on the bus', latencies.get('candle')!));
    console.log(line('its indicator set on the bus', latencies.get('indicators')!));
    for (const h of HORIZONS) console.log(line(`the ${h}m prediction on the bus`, latencies.get(`bus ${h}m`)!));
    const atSubscriber = HORIZONS.flatMap((h) => latencies.get(`subscriber ${h}m`)!);
    console.log(line('predictionCreated at the subscriber (each)', atSubscriber));
    console.log(line("the close's last predictionCreated", lastOfClose));
    const p99 = percentile(
      [...lastOfClose].sort((a, b) => a - b),
      0.99,
    );
    console.log(
      `    ratio p99 (last of the close) / ${GOAL_P99_MS} ms goal: ${(p99 / GOAL_P99_MS).toFixed(2)}${missing > 0 ? ` (${missing} closes missing)` : ''}`,
    );
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error(`e2e cleanup: ${String(error)}`));
    }
  }
}

/**
 * The five subgraphs on the bench's bus and feature store and the gateway in front of them,
 * with the calls cli/api.ts makes for `tickcast start` (bench/ may not import cli/), auth off.
 * Each server goes into `api` as soon as it runs, so a failure half way still stops what started.
 */
async function startApi(
  config: Config,
  deps: { pool: pg.Pool; bus: Bus; logger: Logger },
  api: Api,
): Promise<RunningGateway> {
  const internalSecrets = config.TICKCAST_INTERNAL_SECRET ?? [randomBytes(32).toString('base64url')];
  const urls = {} as Record<SubgraphName, string>;
  for (const name of SUBGRAPHS) {
    const subgraph = await startSubgraph(subgraphDefinition(name, config), {
      ...deps,
      port: 0,
      host: '127.0.0.1',
      internalSecrets,
    });
    api.subgraphs.push(subgraph);
    urls[name] = subgraph.url;
  }
  const base = await gatewayConfigFromEnv(config);
  const gatewayConfig: GatewayConfig = {
    ...base,
    subgraphs: Object.fromEntries(
      SUBGRAPHS.map((name) => [name, { ...base.subgraphs[name], url: urls[name], signingSecret: internalSecrets[0] }]),
    ) as GatewayConfig['subgraphs'],
  };
  api.gateway = await createGateway(gatewayConfig, { logger: deps.logger });
  return api.gateway;
}

/** Follows the candles, indicators and predictions topics on the bus in a live group of the bench's own. */
async function followBus(bus: Bus, arrivals: Arrivals): Promise<Cleanup> {
  const task = await bus.consume({
    groupId: 'bench-e2e',
    topics: [TOPICS.candles.name, TOPICS.indicators.name, TOPICS.predictions.name],
    fromBeginning: false,
    live: true,
    handler: async (records: readonly InboundRecord[]) => {
      for (const record of records) {
        if (record.value === null) continue;
        const value = JSON.parse(record.value.toString('utf8')) as {
          interval?: string;
          openTime?: number;
          final?: boolean;
          horizonMinutes?: number;
          madeAt?: number;
        };
        if (record.topic === TOPICS.candles.name && value.interval === '1m' && value.openTime !== undefined) {
          arrivals.note('candle', value.openTime);
        } else if (record.topic === TOPICS.indicators.name && value.interval === '1m' && value.openTime !== undefined) {
          arrivals.note('indicators', value.openTime);
        } else if (record.topic === TOPICS.predictions.name && value.madeAt !== undefined) {
          arrivals.note(`bus ${value.horizonMinutes}m`, value.madeAt - MINUTE_MS);
        }
      }
    },
  });
  return () => task.stop();
}

/** One graphql-ws client on the gateway, subscribed to the pair's predictions. */
async function subscribe(httpUrl: string, arrivals: Arrivals): Promise<Client> {
  const url = httpUrl.replace(/^http/, 'ws').replace('0.0.0.0', '127.0.0.1');
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  await new Promise<void>((resolve, reject) => {
    client.on('connected', () => resolve());
    client.on('closed', (event) => reject(new Error(`the gateway closed the subscriber: ${JSON.stringify(event)}`)));
  });
  client.subscribe<{ predictionCreated: { horizonMinutes: number; madeAt: string } }>(
    { query: `subscription { predictionCreated(pair: "${PAIR}") { horizonMinutes madeAt } }` },
    {
      next: (result) => {
        const prediction = result.data?.predictionCreated;
        if (prediction)
          arrivals.note(`subscriber ${prediction.horizonMinutes}m`, Date.parse(prediction.madeAt) - MINUTE_MS);
      },
      error: (error) => console.error(`e2e subscriber: ${JSON.stringify(error)}`),
      complete: () => undefined,
    },
  );
  return client;
}
