/**
 * Requests/s and p50/p99 latency of GraphQL queries through tickcast's gateway, next to
 * Hive Gateway over the same running subgraphs, and next to a subgraph asked directly,
 * measured in the same run.
 *
 * Processes: this one seeds a fresh PostgreSQL schema with real data and hosts the
 * gateways (tickcast's and Hive Gateway's, each on its defaults and without in-flight
 * deduplication; one is under load at a time); a child runs the five real subgraphs (as
 * `tickcast start` does, in one process); another child generates the load, so neither
 * the load generator nor the subgraphs share the gateway's event loop. CPU time per
 * request of the gateway process and of the subgraphs process is reported next to the
 * rates: on a small machine the three processes and PostgreSQL compete for cores, and the
 * CPU cost per request is the figure that does not depend on who was starved.
 *
 * Every target is asked once before timing and the answers compared (the gateways must
 * return the same data as each other, and as the subgraph for the single-subgraph query);
 * during timing every response must be byte-identical to that checked one. Every target
 * is warmed up once before the first is timed (so the first is not the one paying for
 * JIT compilation in the subgraphs), and again right before its own timing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { setMaxListeners } from 'node:events';
import { Agent, createServer, request, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Session } from 'node:inspector/promises';
import pg from 'pg';
import { generateApiKey, parseApiKeyEntries } from '../gateway/auth.ts';
import { gatewayConfigFromEnv, type GatewayConfig } from '../gateway/config.ts';
import { createGateway } from '../gateway/server.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { registry as metrics } from '../lib/metrics.ts';
import { openRegistry } from '../registry/index.ts';
import type { Candle, IndicatorSet, Trade } from '../schema/events.ts';
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs.ts';
import { createIndicatorState, updateIndicators } from '../lib/indicators/engine.ts';
import { openFeatureStore } from '../streams/runtime.ts';
import { loadCandleCsv } from '../lib/candle-csv.ts';
import { insertTrades, upsertCandles, upsertIndicators } from '../streams/store/feature-store.ts';
import { subgraphDefinition } from '../subgraphs/catalog.ts';
import { startSubgraph, type RunningSubgraph } from '../subgraphs/server.ts';
import { BTC_CANDLES, FULL_DAY, requireData } from '../test/support/data.ts';
import { MemoryBus } from '../streams/bus/memory.ts';
import { composeWithUrls } from './supergraph.ts';

const PAIR = 'BTC/USD';
const HORIZON = 5;
const MODEL = 'tickcast-btc-usd-5m';
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);
const WARMUP_MS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 1) * 1000;
const DURATION_MS = Number(process.env['BENCH_SECONDS'] ?? 5) * 1000;
/** High enough that the gateway's per-key token bucket never refuses the benchmark's one key. */
const RATE_LIMIT = 1_000_000;
const REQUEST_TIMEOUT_MS = 10_000;
/**
 * BENCH_PROFILE_DIR: a V8 CPU profile of this process (the gateways) per timed target, written
 * there as `<query>-<target>.cpuprofile`; one file per target, so the gateways idle in the
 * same process do not blur each other's profiles as one `--cpu-prof` for the whole run would.
 */
const PROFILE_DIR = process.env['BENCH_PROFILE_DIR'];

const repoFile = (path: string): URL => new URL(`../${path}`, import.meta.url);
const TSX_LOADER = repoFile('node_modules/tsx/dist/loader.mjs').href;

/** The dashboard's query (test/operations): all five subgraphs, three sequential fetch stages. */
export const CROSS_QUERY = {
  query: await readFile(repoFile('test/operations/market-overview.graphql'), 'utf8'),
  variables: { pair: PAIR, interval: '1m', first: 20, horizon: HORIZON },
};
/** Answered by the markets subgraph alone: the gateway adds one hop and its own work. */
export const SINGLE_QUERY = {
  query: `{ market(pair: "${PAIR}") { candles(interval: "1m", first: 20) { edges { node { close } } } } }`,
};

// ---- messages between this process and its children

export interface LoadSpec {
  /** Requests go round-robin over these (gateway replicas; one for most targets). */
  readonly urls: readonly string[];
  /**
   * The query mix, sent in turn, each to every URL alike; every response must be exactly its
   * `expected` (the answer checked before timing).
   */
  readonly requests: readonly { readonly body: string; readonly expected: string }[];
  readonly headers: Record<string, string>;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
  readonly firstError: string | null;
  /** CPU seconds the load generator used per wall second while measuring. */
  readonly clientCpu: number;
}

type Message =
  | { type: 'ready'; urls: Record<SubgraphName, string> }
  | { type: 'usage'; cpu?: NodeJS.CpuUsage; operations?: number }
  | { type: 'run'; spec: LoadSpec }
  | { type: 'measuring' }
  | { type: 'result'; result: LoadResult }
  | { type: 'stop' }
  | { type: 'error'; message: string };

function send(target: ChildProcess | NodeJS.Process, message: Message): void {
  if (!target.send)
    throw new Error('bench/gateway.ts: no IPC channel (children are started by `npm run bench -- gateway`)');
  target.send(message);
}

/** The child's next message of `type`; rejects on its error message, its exit, or after `timeoutMs`. */
function nextMessage<T extends Message['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<Message, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no "${type}" from the ${child.spawnargs.at(-1)} child`)), timeoutMs);
    const onMessage = (message: Message) => {
      if (message.type === 'error') done(new Error(`${child.spawnargs.at(-1)} child: ${message.message}`));
      else if (message.type === type) done(undefined, message as Extract<Message, { type: T }>);
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`the ${child.spawnargs.at(-1)} child exited (${signal ?? code}) before sending "${type}"`));
    function done(error: Error | undefined, message?: Extract<Message, { type: T }>) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function startChild(role: 'subgraphs' | 'load', env: NodeJS.ProcessEnv): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [role], {
    execArgv: ['--enable-source-maps', '--import', TSX_LOADER],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Asks the child to stop, and kills it if it has not exited after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) send(child, { type: 'stop' });
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---- data: a fresh schema with a real day of BTC/USD

export interface Seeded {
  readonly candles: number;
  readonly indicatorSets: number;
  readonly trades: number;
  readonly mae: number;
}

const MINUTE = 60_000;

function toCandle(minute: Awaited<ReturnType<typeof loadCandleCsv>>[number]): Candle {
  const traded = minute.count > 0;
  return {
    v: 1,
    pair: PAIR,
    interval: '1m',
    openTime: minute.time,
    closeTime: minute.time + MINUTE,
    open: minute.open,
    high: minute.high,
    low: minute.low,
    close: minute.close,
    volume: minute.volume,
    quoteVolume: traded ? minute.vwap * minute.volume : 0,
    vwap: traded ? minute.vwap : minute.close,
    tradeCount: minute.count,
    flat: !traded,
    final: true,
  };
}

/**
 * Candles: the real minutes of 2023-04-04. Indicator sets: computed from them by the
 * indicators engine. Trades: one per minute of the day's last ten traded minutes, at the
 * close (the file has no tick data). Sentiment: one synthetic sentiment_features row per
 * window (there is no news for that day in ../shared/data). Prediction: a naive
 * persistence forecast (last close) from a model version in the local registry whose
 * logged MAE is that forecast's 5-minute MAE over the day.
 */
async function seed(pool: pg.Pool, dataDir: string): Promise<Seeded> {
  const minutes = (await loadCandleCsv(requireData(BTC_CANDLES))).filter(
    (m) => m.time >= FULL_DAY.from && m.time < FULL_DAY.to,
  );
  const candles = minutes.map(toCandle);
  await upsertCandles(pool, candles);

  const state = createIndicatorState();
  const sets: IndicatorSet[] = candles.map((c) => ({
    v: 1,
    pair: PAIR,
    interval: '1m',
    openTime: c.openTime,
    close: c.close,
    values: updateIndicators(state, c),
  }));
  await upsertIndicators(pool, sets);

  const trades: Trade[] = candles
    .filter((c) => c.tradeCount > 0)
    .slice(-10)
    .map((c, i) => ({
      v: 1,
      kind: 'trade',
      pair: PAIR,
      tradeId: i + 1,
      price: c.close,
      qty: c.volume,
      side: null,
      time: c.closeTime - 1,
      source: 'replay-candles',
    }));
  await insertTrades(pool, trades);

  const last = candles.at(-1)!;
  for (const [window, count, mean] of [
    ['1h', 6, 0.12],
    ['4h', 19, 0.08],
    ['24h', 87, 0.05],
  ] as const) {
    await pool.query(
      `INSERT INTO sentiment_features (coin, window_name, as_of, mean_score, count, bullish_ratio, bearish_ratio)
       VALUES ('BTC', $1, $2, $3, $4, 0.4, 0.25)`,
      [window, new Date(last.closeTime), mean, count],
    );
  }

  // Persistence forecast: the close HORIZON minutes later equals the close now.
  const errors = candles.slice(HORIZON).map((c, i) => Math.abs(c.close - candles[i]!.close));
  const mae = errors.reduce((sum, e) => sum + e, 0) / errors.length;
  const q90 = [...errors].sort((a, b) => a - b)[Math.ceil(0.9 * errors.length) - 1]!;
  const registry = openRegistry({ mlflowTrackingUri: undefined, dataDir });
  const experiment = await registry.ensureExperiment('bench-gateway');
  const run = await registry.createRun(experiment.id, { name: 'persistence', params: { horizon: HORIZON } });
  await registry.logMetrics(run.runId, { mae, baseline_mae: mae });
  await registry.finishRun(run.runId);
  await registry.createRegisteredModel(MODEL, { description: 'naive persistence (benchmark data)' });
  const version = await registry.createVersion(MODEL, run.runId, 'model');
  await pool.query(
    `INSERT INTO predictions (id, pair, horizon_minutes, made_at, target_time, predicted_price, lower_bound,
       upper_bound, model_name, model_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      `bench-${last.closeTime}`,
      PAIR,
      HORIZON,
      new Date(last.closeTime),
      new Date(last.closeTime + HORIZON * MINUTE),
      last.close,
      last.close - q90,
      last.close + q90,
      MODEL,
      version.version,
    ],
  );
  return { candles: candles.length, indicatorSets: sets.length, trades: trades.length, mae };
}

// ---- the gateways

interface Target {
  readonly url: string;
  stop(): Promise<void>;
}

/** `dedupe: false` turns off what Hive's `deduplicateInflightRequests: false` does, for a like-for-like pair. */
async function startTickcastGateway(
  urls: Record<SubgraphName, string>,
  logger: Logger,
  { entry }: ReturnType<typeof generateApiKey>,
  dedupe: boolean,
): Promise<Target> {
  const base = await gatewayConfigFromEnv(
    loadConfig({
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_AUTH: 'enabled',
      GATEWAY_RATE_LIMIT_PER_SECOND: String(RATE_LIMIT),
      GATEWAY_RATE_LIMIT_BURST: String(RATE_LIMIT),
      GATEWAY_LANDING_PAGE: 'false',
    }),
  );
  const config: GatewayConfig = {
    ...base,
    auth: { mode: 'enabled', apiKeys: parseApiKeyEntries(entry) },
    subgraphs: Object.fromEntries(
      SUBGRAPHS.map((name) => [name, { ...base.subgraphs[name], url: urls[name], dedupe }]),
    ) as GatewayConfig['subgraphs'],
  };
  const gateway = await createGateway(config, { logger });
  return { url: gateway.url, stop: () => gateway.stop() };
}

/** What this benchmark uses of Hive Gateway's runtime (a Yoga server: a node:http request listener). */
interface HiveRuntime extends RequestListener {
  dispose(): Promise<void> | void;
}
type CreateGatewayRuntime = (config: {
  supergraph: string;
  logging: boolean;
  landingPage: boolean;
  graphiql: boolean;
  transportEntries?: Record<string, { options: { deduplicateInflightRequests: boolean } }>;
}) => HiveRuntime;

/**
 * The module name is a variable on purpose: importing @graphql-hive/gateway's types into the
 * program makes graphql-yoga's global augmentations (GraphQLErrorExtensions.http, fetch's
 * RequestInit) apply to the whole project and breaks the gateway's own type checking.
 */
const HIVE_GATEWAY = '@graphql-hive/gateway';

/**
 * Hive Gateway on its defaults, or with `deduplicate: false` turning off what it does by
 * default and tickcast's gateway does not: identical subgraph queries in flight at the same
 * time share one subgraph request (@graphql-tools/executor-http `deduplicateInflightRequests`).
 */
async function startHiveGateway(supergraph: string, deduplicate: boolean): Promise<Target> {
  const { createGatewayRuntime } = (await import(HIVE_GATEWAY)) as { createGatewayRuntime: CreateGatewayRuntime };
  const runtime = createGatewayRuntime({
    supergraph,
    logging: false,
    landingPage: false,
    graphiql: false,
    ...(deduplicate ? {} : { transportEntries: { '*.http': { options: { deduplicateInflightRequests: false } } } }),
  });
  const server = createServer(runtime);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await runtime.dispose();
    },
  };
}

// ---- checking the answers

interface Reply {
  readonly text: string;
  readonly data: unknown;
}

export async function ask(url: string, body: string, headers: Record<string, string>): Promise<Reply> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  const parsed = JSON.parse(text) as { data?: unknown; errors?: unknown[] };
  if (response.status !== 200 || parsed.errors?.length || !parsed.data) {
    throw new Error(`${url} answered HTTP ${response.status} with errors: ${text.slice(0, 2_000)}`);
  }
  return { text, data: parsed.data };
}

export function requireSame(what: string, answers: Record<string, Reply>): void {
  const [[firstName, first], ...rest] = Object.entries(answers) as [[string, Reply], ...[string, Reply][]];
  for (const [name, reply] of rest) {
    if (!isDeepStrictEqual(reply.data, first.data)) {
      throw new Error(
        `${what}: ${name} and ${firstName} return different data\n` +
          `${firstName}: ${JSON.stringify(first.data)}\n${name}: ${JSON.stringify(reply.data)}`,
      );
    }
  }
}

interface Overview {
  market: {
    lastTrade: unknown;
    candles: { edges: unknown[] };
    latestFeatures: unknown;
    sentiment: unknown;
    latestPrediction: { modelVersion: { metrics: { mae: number | null } } } | null;
  } | null;
}

/** Every subgraph contributed: a wrong URL or an empty table fails here, not as a fast "null" benchmark. */
export function requireComplete(data: unknown, mae: number): void {
  const market = (data as Overview).market;
  const problems = [
    !market && 'market is null',
    market && !market.lastTrade && 'no lastTrade (markets)',
    market && market.candles.edges.length !== 20 && 'not 20 candles (markets)',
    market && !market.latestFeatures && 'no latestFeatures (features)',
    market && !market.sentiment && 'no sentiment (sentiment)',
    market && !market.latestPrediction && 'no latestPrediction (predictions)',
    market?.latestPrediction &&
      market.latestPrediction.modelVersion.metrics.mae !== mae &&
      `modelVersion.metrics.mae is not the logged ${mae} (models)`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new Error(`MarketOverview is incomplete: ${problems.join('; ')}`);
}

// ---- measuring

export interface Measured extends LoadResult {
  /** CPU ms per request of this process (the gateways) and of the subgraphs child. */
  readonly gatewayCpuMs: number;
  readonly subgraphsCpuMs: number;
  /** Operations the subgraphs served per request. */
  readonly subgraphOperations: number;
}

const cpuMs = (usage: NodeJS.CpuUsage): number => (usage.user + usage.system) / 1000;

/** Load without measuring (durationMs 0), failing on any wrong answer. */
export async function warmUp(load: ChildProcess, spec: LoadSpec): Promise<void> {
  const result = nextMessage(load, 'result', spec.warmupMs + 2 * REQUEST_TIMEOUT_MS + 30_000);
  send(load, { type: 'run', spec });
  const { result: warmed } = await result;
  if (warmed.errors > 0) {
    throw new Error(
      `${spec.urls.join(', ')}: ${warmed.errors} failed or unexpected responses, first: ${warmed.firstError}`,
    );
  }
}

/**
 * One timed run of `spec`. `gatewayCpuMs` reads the CPU time the gateways under test have used
 * so far: this process by default (they run in it here); gateway replicas in child processes
 * (bench/scale.ts) read theirs from /proc.
 */
export async function measure(
  load: ChildProcess,
  subgraphs: ChildProcess,
  spec: LoadSpec,
  gatewayCpuMs: () => Promise<number> = () => Promise.resolve(cpuMs(process.cpuUsage())),
): Promise<Measured> {
  const subgraphsUsage = async (): Promise<{ cpu: number; operations: number }> => {
    const reply = nextMessage(subgraphs, 'usage', 10_000);
    send(subgraphs, { type: 'usage' });
    const { cpu, operations } = await reply;
    return { cpu: cpuMs(cpu!), operations: operations! };
  };
  const timeout = spec.warmupMs + spec.durationMs + 2 * REQUEST_TIMEOUT_MS + 30_000;
  const measuring = nextMessage(load, 'measuring', timeout);
  const result = nextMessage(load, 'result', timeout);
  result.catch(() => undefined); // awaited below; a failure is reported there
  send(load, { type: 'run', spec });
  await measuring;
  const gateway0 = await gatewayCpuMs();
  const subgraphs0 = await subgraphsUsage();
  const { result: measured } = await result;
  const gatewayCpu = (await gatewayCpuMs()) - gateway0;
  const subgraphs1 = await subgraphsUsage();
  if (measured.errors > 0) {
    throw new Error(
      `${spec.urls.join(', ')}: ${measured.errors} failed or unexpected responses, first: ${measured.firstError}`,
    );
  }
  return {
    ...measured,
    gatewayCpuMs: gatewayCpu / measured.requests,
    subgraphsCpuMs: (subgraphs1.cpu - subgraphs0.cpu) / measured.requests,
    subgraphOperations: (subgraphs1.operations - subgraphs0.operations) / measured.requests,
  };
}

// ---- the benchmark

/** What the gateway benchmarks query: subgraphs over seeded data, and a load generator. */
export interface Backend {
  readonly seeded: Seeded;
  readonly urls: Record<SubgraphName, string>;
  /** The child running the five subgraphs (answers `usage`). */
  readonly subgraphs: ChildProcess;
  /** The child generating load (answers `run`). */
  readonly load: ChildProcess;
  readonly config: Config;
}

/**
 * A fresh PostgreSQL schema (`bench…_<name>`) seeded with a real day of BTC/USD and a local
 * model registry in a temp dir, the five real subgraphs over them in one child process, and a
 * load generator child; `cleanups` undoes each.
 */
export async function startBackend(
  databaseUrl: string,
  logger: Logger,
  cleanups: [string, () => Promise<unknown>][],
  name: string,
): Promise<Backend> {
  const schema = `bench${Date.now().toString(36)}${randomBytes(2).toString('hex')}_${name}`;
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  cleanups.push([
    `dropping schema ${schema}`,
    async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  ]);
  const dataDir = await mkdtemp(join(tmpdir(), `tickcast-bench-${name}-`));
  cleanups.push([`removing ${dataDir}`, () => rm(dataDir, { recursive: true, force: true })]);

  const scoped = new URL(databaseUrl);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: scoped.toString(),
    TICKCAST_DATA_DIR: dataDir,
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
  };
  // The models subgraph reads the local registry in dataDir, not MLflow.
  delete env['MLFLOW_TRACKING_URI'];
  const config = loadConfig(env);

  const store = await openFeatureStore(config, logger); // migrates the fresh schema
  const seeded = await seed(store.pool, dataDir).finally(() => store.close());

  const subgraphs = startChild('subgraphs', env);
  cleanups.push(['stopping the subgraphs', () => stopChild(subgraphs)]);
  const { urls } = await nextMessage(subgraphs, 'ready', 120_000);
  const load = startChild('load', env);
  cleanups.push(['stopping the load generator', () => stopChild(load)]);

  return { seeded, urls, subgraphs, load, config };
}

export async function run(): Promise<void> {
  const databaseUrl = process.env['DATABASE_URL'];
  if (!databaseUrl) {
    throw new Error(
      'the gateway benchmark needs PostgreSQL: run `scripts/services up postgres` and `eval "$(scripts/services env)"`',
    );
  }
  const logger = createLogger(process.env['LOG_LEVEL'] ?? 'warn');
  const cleanups: [string, () => Promise<unknown>][] = [];
  try {
    await bench(databaseUrl, logger, cleanups);
  } finally {
    for (const [what, cleanup] of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error(`gateway bench: ${what} failed:`, error));
    }
  }
}

async function bench(databaseUrl: string, logger: Logger, cleanups: [string, () => Promise<unknown>][]): Promise<void> {
  const loadBefore = loadavg()[0]!; // other work on this machine skews every figure: say how much there was
  const { seeded, urls, subgraphs, load, config } = await startBackend(databaseUrl, logger, cleanups, 'gateway');

  const apiKey = generateApiKey('bench', ['read']);
  const tickcast = await startTickcastGateway(urls, logger, apiKey, true);
  cleanups.push(['stopping the tickcast gateway', () => tickcast.stop()]);
  const tickcastNoDedupe = await startTickcastGateway(urls, logger, apiKey, false);
  cleanups.push(['stopping the tickcast gateway (no dedupe)', () => tickcastNoDedupe.stop()]);
  const supergraph = await composeWithUrls(urls);
  // Hive Gateway's fetch adds a listener per in-flight subgraph request to one shared
  // AbortSignal; past Node's default of 10 that prints a (false) leak warning per request batch.
  setMaxListeners(4 * CONCURRENCY);
  const hive = await startHiveGateway(supergraph, true);
  cleanups.push(['stopping Hive Gateway', () => hive.stop()]);
  const hiveNoDedupe = await startHiveGateway(supergraph, false);
  cleanups.push(['stopping Hive Gateway (no dedupe)', () => hiveNoDedupe.stop()]);

  const headers = { 'x-api-key': apiKey.key };
  const gateways = [
    ['tickcast gateway', tickcast.url],
    ['tickcast gateway, no dedupe', tickcastNoDedupe.url],
    ['Hive Gateway', hive.url],
    ['Hive Gateway, no dedupe', hiveNoDedupe.url],
  ] as const;
  const queries = [
    { name: 'MarketOverview', body: JSON.stringify(CROSS_QUERY), targets: gateways },
    {
      name: 'markets-only',
      body: JSON.stringify(SINGLE_QUERY),
      targets: [['markets subgraph, direct', urls.markets] as const, ...gateways],
    },
  ];

  // Once, before timing: every target answers, and all of a query's answers are the same data.
  const checked: { query: string; target: string; url: string; body: string; expected: string }[] = [];
  for (const query of queries) {
    const answers: Record<string, Reply> = {};
    for (const [target, url] of query.targets) answers[target] = await ask(url, query.body, headers);
    requireSame(query.name, answers);
    if (query.name === 'MarketOverview') requireComplete(answers['tickcast gateway']!.data, seeded.mae);
    for (const [target, url] of query.targets) {
      checked.push({ query: query.name, target, url, body: query.body, expected: answers[target]!.text });
    }
  }

  const spec = ({ url, body, expected }: (typeof checked)[number]): LoadSpec => ({
    urls: [url],
    requests: [{ body, expected }],
    headers,
    concurrency: CONCURRENCY,
    warmupMs: WARMUP_MS,
    durationMs: DURATION_MS,
  });
  for (const target of checked) await warmUp(load, { ...spec(target), durationMs: 0 });
  const results = new Map<string, Measured>();
  const profiler = PROFILE_DIR ? new Session() : undefined;
  profiler?.connect();
  for (const target of checked) {
    await profiler?.post('Profiler.enable');
    await profiler?.post('Profiler.start');
    results.set(`${target.query}|${target.target}`, await measure(load, subgraphs, spec(target)));
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      const file = `${target.query}-${target.target}`.replace(/[^\w-]+/g, '_');
      await writeFile(join(PROFILE_DIR!, `${file}.cpuprofile`), JSON.stringify(profile));
      await profiler.post('Profiler.disable');
    }
  }
  profiler?.disconnect();
  const result = (query: string, target: string): Measured => results.get(`${query}|${target}`)!;

  const versions = await Promise.all(
    ['@graphql-hive/gateway', '@apollo/gateway', '@apollo/server'].map(async (name) => {
      const json = JSON.parse(await readFile(repoFile(`node_modules/${name}/package.json`), 'utf8')) as {
        version: string;
      };
      return `${name} ${json.version}`;
    }),
  );
  const int = (n: number) => Math.round(n).toLocaleString('en-US');
  const fixed = (n: number, digits = 2) => n.toFixed(digits);
  const rate = (r: Measured) => r.requests / r.seconds;
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(3) : 'n/a');

  console.log(
    `gateway: ${CONCURRENCY} requests in flight; every target warmed ${WARMUP_MS / 1000} s, then per target ` +
      `${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s timed; ` +
      `node:http keep-alive client in a child process; ${cpus().length} CPUs, Node ${process.version}, ` +
      `1-min load average ${fixed(loadBefore)} at start (other work on the machine)`,
  );
  console.log(
    `  data: PostgreSQL ${new URL(databaseUrl).host}, fresh schema; ${seeded.candles} real BTC/USD 1m candles ` +
      `(2023-04-04), ${seeded.indicatorSets} indicator sets computed from them, ${seeded.trades} trades at minute ` +
      `closes, synthetic sentiment rows, 1 persistence-forecast prediction; local model registry in a temp dir`,
  );
  console.log(
    `  subgraphs: the five real ones in one child process, pg pool ${config.DATABASE_POOL_SIZE}. ` +
      `tickcast gateway: auth on (1 API key, read scope), rate limit ${int(RATE_LIMIT)}/s burst ${int(RATE_LIMIT)}, ` +
      `default query limits, APQ on (unused); identical in-flight subgraph fetches shared (its default), and ` +
      `again not shared. Hive Gateway: createGatewayRuntime defaults (no auth), and again with ` +
      `deduplicateInflightRequests off`,
  );
  console.log(`  ${versions.join(', ')}`);
  console.log(
    `  ${'query'.padEnd(15)} ${'target'.padEnd(28)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(8)} ` +
      `${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'gw CPU ms/req'.padStart(14)} ` +
      `${'subgraph CPU ms/req'.padStart(20)} ${'subgraph ops/req'.padStart(17)}`,
  );
  for (const { query, target } of checked) {
    const r = result(query, target);
    const gatewayCpu = target.endsWith('direct') ? '-' : fixed(r.gatewayCpuMs);
    console.log(
      `  ${query.padEnd(15)} ${target.padEnd(28)} ${int(rate(r)).padStart(7)} ${fixed(r.p50).padStart(8)} ` +
        `${fixed(r.p99).padStart(8)} ${fixed(r.max).padStart(8)} ${gatewayCpu.padStart(14)} ` +
        `${fixed(r.subgraphsCpuMs).padStart(20)} ${fixed(r.subgraphOperations).padStart(17)}`,
    );
  }
  const comparisons = [
    ['MarketOverview', 'tickcast gateway', 'Hive Gateway'],
    ['MarketOverview', 'tickcast gateway, no dedupe', 'Hive Gateway, no dedupe'],
    ['markets-only', 'tickcast gateway', 'Hive Gateway'],
    ['markets-only', 'tickcast gateway, no dedupe', 'Hive Gateway, no dedupe'],
    ['markets-only', 'tickcast gateway', 'markets subgraph, direct'],
    ['markets-only', 'tickcast gateway, no dedupe', 'markets subgraph, direct'],
    ['markets-only', 'Hive Gateway', 'markets subgraph, direct'],
    ['markets-only', 'Hive Gateway, no dedupe', 'markets subgraph, direct'],
  ] as const;
  console.log(
    `  ${'ratio'.padEnd(72)} ${'req/s'.padStart(7)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ` +
      `${'gw CPU/req'.padStart(11)}`,
  );
  for (const [query, a, b] of comparisons) {
    const [x, y] = [result(query, a), result(query, b)];
    const gatewayCpu = b.endsWith('direct') ? '-' : ratio(x.gatewayCpuMs, y.gatewayCpuMs);
    console.log(
      `  ${`${query}: ${a} / ${b}`.padEnd(72)} ${ratio(rate(x), rate(y)).padStart(7)} ` +
        `${ratio(x.p50, y.p50).padStart(7)} ${ratio(x.p99, y.p99).padStart(7)} ${gatewayCpu.padStart(11)}`,
    );
  }
  const clientCpu = Math.max(...[...results.values()].map((r) => r.clientCpu));
  console.log(`  load generator CPU: at most ${fixed(clientCpu)} CPU-s per s while timed`);
}

// ---- the children

/** The five real subgraphs on free ports, one feature store pool, as `tickcast start` runs them. */
async function serveSubgraphs(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const database = await openFeatureStore(config, logger);
  const running: RunningSubgraph[] = [];
  const urls = {} as Record<SubgraphName, string>;
  for (const name of SUBGRAPHS) {
    const subgraph = await startSubgraph(subgraphDefinition(name, config), {
      pool: database.pool,
      bus: new MemoryBus(),
      logger,
      port: 0,
      host: '127.0.0.1',
    });
    running.push(subgraph);
    urls[name] = subgraph.url;
  }
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(running.map((s) => s.stop()));
      await database.close();
      if (process.connected) process.disconnect();
    })());
  process.on('message', (message: Message) => {
    if (message.type === 'usage') {
      void subgraphOperations().then((operations) =>
        send(process, { type: 'usage', cpu: process.cpuUsage(), operations }),
      );
    } else if (message.type === 'stop') void stop();
  });
  process.once('disconnect', () => void stop()); // the parent went away
  send(process, { type: 'ready', urls });
}

/** GraphQL operations the subgraphs of this process served (subgraphs/server.ts counts them). */
async function subgraphOperations(): Promise<number> {
  const metric = metrics.getSingleMetric('tickcast_subgraph_requests_total');
  if (!metric) return 0;
  return (await metric.get()).values.reduce((sum, v) => sum + v.value, 0);
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

/**
 * `concurrency` loops each sending the next request when the last one answered, until the
 * deadline. Request k is query k mod Q of the mix, sent to URL floor(k / Q) mod U: every URL
 * gets every query of the mix alike, whatever the two counts.
 */
async function generateLoad(spec: LoadSpec): Promise<LoadResult> {
  const targets = spec.urls.map((url) => new URL(url));
  // maxSockets is per host and port: up to `concurrency` connections to each URL.
  const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency });
  const mix = spec.requests.map(({ body, expected }) => ({
    body: Buffer.from(body),
    expected,
    headers: { ...spec.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
  }));
  let sent = 0;
  type Reply = { status: number; text: string; expected: string };
  const post = (): Promise<Reply> => {
    const k = sent++;
    return postTo(mix[k % mix.length]!, targets[Math.floor(k / mix.length) % targets.length]!, true);
  };
  const postTo = ({ body, expected, headers }: (typeof mix)[number], target: URL, retry: boolean): Promise<Reply> =>
    new Promise<Reply>((resolve, reject) => {
      const req = request(
        { hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), expected }),
          );
          res.on('error', reject);
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed as this request went out on it (its idle timeout):
        // Node's documented case for one retry (`request.reusedSocket`). Idle sockets occur once
        // the load is spread over several URLs, each with its own pool.
        if (retry && req.reusedSocket && error.code === 'ECONNRESET')
          postTo({ body, expected, headers }, target, false).then(resolve, reject);
        else reject(error);
      });
      req.end(body);
    });

  let errors = 0;
  let firstError: string | null = null;
  const phase = async (durationMs: number, latencies: number[] | undefined): Promise<void> => {
    const deadline = performance.now() + durationMs;
    const worker = async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        let problem: string | undefined;
        try {
          const reply = await post();
          if (reply.status !== 200) problem = `HTTP ${reply.status}: ${reply.text.slice(0, 500)}`;
          else if (reply.text !== reply.expected) problem = `a different answer: ${reply.text.slice(0, 500)}`;
        } catch (error) {
          problem = String(error);
        }
        if (problem === undefined) latencies?.push(performance.now() - started);
        else {
          errors += 1;
          firstError ??= problem;
        }
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, worker));
  };

  await phase(spec.warmupMs, undefined);
  send(process, { type: 'measuring' });
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const latencies: number[] = [];
  await phase(spec.durationMs, latencies);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? NaN,
    errors,
    firstError,
    clientCpu: cpuMs(cpu) / 1000 / seconds,
  };
}

function serveLoad(): void {
  process.on('message', (message: Message) => {
    if (message.type === 'stop') {
      process.disconnect();
    } else if (message.type === 'run') {
      generateLoad(message.spec).then(
        (result) => send(process, { type: 'result', result }),
        (error: unknown) => send(process, { type: 'error', message: String((error as Error).stack ?? error) }),
      );
    }
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const role = process.argv[2];
  if (role === 'subgraphs') await serveSubgraphs();
  else if (role === 'load') serveLoad();
  else {
    console.error('bench/gateway.ts runs its own children; run `npm run bench -- gateway`');
    process.exit(2);
  }
}
