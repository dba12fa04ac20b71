/**
 * Soak: `tickcast start` (embedded, or over the real services: see Systems below) replays
 * the real BTC/USD candles at 10x real time for `--minutes` while 1,000 graphql-ws clients
 * follow it through the gateway, half on `candleUpdated` (1m) and half on
 * `predictionCreated`, as dashboards would. Every `--sample-seconds` it
 * samples, and prints a row:
 * - memory of the service: RSS and heap used, after a full GC (the service runs with
 *   `--expose-gc` and bench/soak-probe.ts answers over IPC);
 * - consumer lag: records its consumer groups have not handled yet (embedded:
 *   `tickcast_bus_memory_pending_records`, and the records the in-process bus holds;
 *   distributed: Kafka offsets);
 * - event-to-client latency: receipt time minus the time the replay was due to reach the
 *   event (its replay-clock time: origin + (event time - first minute) / speed, the candle's
 *   close or the prediction's madeAt), above the fastest delivery of the run (the origin is
 *   not observable from outside, so the fastest event counts as 0 ms);
 * - lost and duplicated events: each client checks its stream (bench/soak-check.ts): final
 *   candles one minute apart, predictions one minute apart per horizon, each once; at the
 *   end, after a drain, every client must have the newest event any client received.
 * The summary compares memory growth from the post-warm-up baseline with the 10 % goal and
 * lost/duplicated events, subscription errors and closed sockets with 0; a broken limit
 * exits 1.
 *
 * Processes: this one (sampling), the service (`tickcast start`), and one load generator
 * child per subscription (graphql-ws clients over `ws`, bench/subscriptions/sockets.ts).
 * The data directory starts empty: the replay sends its first 70 minutes as fast as possible
 * (`--catch-up`, the indicators' 60-minute window and some) and then paces at 10x, while
 * `tickcast start` trains its first models (horizons 1 and 5) in child processes; the run
 * starts once predictions flow.
 *
 * Systems (`--system`, default both when Kafka and PostgreSQL are configured, else embedded):
 * - embedded: the in-process bus, PGlite and a local registry, as `npm start` runs it;
 * - distributed: `tickcast start` over the configured Kafka and PostgreSQL (and Elasticsearch),
 *   in topics, groups, a schema and indices of its own; consumer lag is then the groups'
 *   committed offsets against the topics' ends. Models stay in a local registry: MLflow's
 *   model names are not namespaced, and a soak must not replace the shared champions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { BTC_CANDLES, requireData } from '../test/support/data.ts';
import { freePort } from '../test/support/ports.ts';
import { isolate } from '../test/support/services.ts';
import { FirstSeen, growth, newestOf, percentileOf, SequenceCheck } from './soak-check.ts';
import {
  request,
  runCleanups,
  serveRequests,
  startLoadGenerators,
  startService,
  type Child,
  type Cleanups,
} from './subscriptions/children.ts';
import { OPEN_GATEWAY_ENV } from './subscriptions/gateways.ts';
import { scrapeMetrics } from './subscriptions/process-metrics.ts';
import { SubscriberSockets, type SocketStats, type SubscriptionResult } from './subscriptions/sockets.ts';

const PAIR = 'BTC/USD';
const SPEED = 10;
const HORIZONS = [1, 5];
const MINUTE_MS = 60_000;
/** The first minute of the BTC/USD file: the replay's clock starts there (a fresh data directory, no saved position). */
const REPLAY_ORIGIN = Date.UTC(2023, 3, 3, 12, 1);
/**
 * Minutes replayed as fast as possible before the 10x pace (`tickcast start --catch-up`): the
 * indicators' longest window (60 minutes) and some, so predictions flow as soon as the first
 * model is trained instead of after 6 minutes of warm-up at 10x.
 */
const CATCH_UP_MINUTES = 70;
const DEFAULT_MINUTES = 30;
const DEFAULT_SAMPLE_SECONDS = 10;
const DEFAULT_CLIENTS = 1_000;
const MEMORY_GROWTH_LIMIT = 0.1;
/** Samples whose median is the baseline, and the end, of the memory comparison. */
const MEMORY_WINDOW = 3;
/** Warm-up before the memory baseline: a quarter of the run, at least 30 s, at most 5 min. */
const warmUpMs = (runMs: number) => Math.min(5 * MINUTE_MS, Math.max(30_000, runMs / 4));
/** Every client must have received an event of its stream before the run starts (indicators warm up first). */
const WARMUP_TIMEOUT_MS = 10 * MINUTE_MS;
/** After the run, the clients get this long to receive what was already published. */
const DRAIN_MS = 15_000;
/** At the end, every client must have each event first received at least this long ago by any client. */
const SETTLE_MS = 10_000;

const OPERATIONS = {
  candles: `subscription { candleUpdated(pair: "${PAIR}", interval: "1m") { openTime final } }`,
  predictions: `subscription { predictionCreated(pair: "${PAIR}") { horizonMinutes madeAt } }`,
} as const;
type Kind = keyof typeof OPERATIONS;

type System = 'embedded' | 'distributed';

export interface SoakFlags {
  /** embedded, distributed, or both (the default when Kafka and PostgreSQL are configured). */
  readonly system?: string | undefined;
  readonly minutes?: string | undefined;
  readonly 'sample-seconds'?: string | undefined;
  readonly clients?: string | undefined;
}

// ---- the load generators

interface LoadSample extends SocketStats {
  readonly received: number;
  /** Events of the checked streams (final candles, predictions). */
  readonly checked: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Clients that received an event of their stream. */
  readonly warm: number;
  /** Receipt minus the replay-clock time of each checked event since the previous sample (ms, origin unknown). */
  readonly offsets: number[];
  /** The newest event time per stream over the clients. */
  readonly newest: [string, number][];
}

type LoadMessage =
  | { type: 'connect'; url: string; kind: Kind; count: number }
  | { type: 'connected'; sample: LoadSample }
  | { type: 'sample'; final?: boolean }
  | { type: 'sampled'; sample: LoadSample }
  | { type: 'disconnect' }
  | { type: 'disconnected' }
  | { type: 'error'; message: string };

class SoakClients {
  private readonly checks: SequenceCheck[];
  private readonly sockets: SubscriberSockets;
  private received = 0;
  private offsets: number[] = [];
  private readonly firstSeen = new FirstSeen();
  /** The first event every client was subscribed for, per stream: where a client's stream starts at the latest. */
  private since = new Map<string, number>();

  constructor(
    url: string,
    private readonly kind: Kind,
    count: number,
  ) {
    this.checks = Array.from({ length: count }, () => new SequenceCheck(MINUTE_MS));
    this.sockets = new SubscriberSockets(
      { url, count, localAddress: '127.0.0.1', query: () => OPERATIONS[kind] },
      (index, result, now) => this.onResult(index, result, now),
    );
  }

  connect(): Promise<void> {
    return this.sockets.connect();
  }

  private onResult(index: number, result: SubscriptionResult, now: number): void {
    this.received++;
    let stream: string;
    let time: number;
    let due: number;
    if (this.kind === 'candles') {
      const candle = result.data?.['candleUpdated'] as { openTime: string; final: boolean } | undefined;
      if (!candle?.final) return;
      stream = '1m';
      time = Date.parse(candle.openTime);
      due = time + MINUTE_MS; // the candle closes when the replay reaches its close time
    } else {
      const prediction = result.data?.['predictionCreated'] as { horizonMinutes: number; madeAt: string } | undefined;
      if (!prediction) return;
      stream = `${prediction.horizonMinutes}m`;
      time = Date.parse(prediction.madeAt);
      due = time;
    }
    if (!Number.isFinite(time)) {
      this.sockets.problem(`an event without a valid time: ${JSON.stringify(result.data).slice(0, 300)}`);
      return;
    }
    this.checks[index]!.observe(stream, time);
    this.firstSeen.note(stream, time, now);
    this.offsets.push(now - (due - REPLAY_ORIGIN) / SPEED);
  }

  sample(final: boolean): LoadSample {
    let lost = 0;
    let duplicated = 0;
    let checked = 0;
    let warm = 0;
    const newest = newestOf(this.checks);
    if (this.since.size === 0 && this.checks.every((c) => c.newest().size > 0)) this.since = new Map(newest);
    const settled = this.firstSeen.settled(Date.now() - SETTLE_MS);
    for (const check of this.checks) {
      lost += check.lost + (final ? check.missingAtEnd(settled, this.since) : 0);
      duplicated += check.duplicated;
      checked += check.received;
      if (check.newest().size > 0) warm++;
    }
    const offsets = this.offsets;
    this.offsets = [];
    return {
      ...this.sockets.stats(),
      received: this.received,
      checked,
      lost,
      duplicated,
      warm,
      offsets,
      newest: [...newest],
    };
  }

  disconnect(): Promise<void> {
    return this.sockets.disconnect();
  }
}

function serveLoad(): void {
  let clients: SoakClients | undefined;
  serveRequests<LoadMessage>((message) => {
    if (message.type === 'connect') {
      const connecting = new SoakClients(message.url, message.kind, message.count);
      clients = connecting;
      return connecting.connect().then(() => ({ type: 'connected', sample: connecting.sample(false) }));
    } else if (message.type === 'sample') {
      return { type: 'sampled', sample: clients!.sample(message.final === true) };
    } else if (message.type === 'disconnect') {
      const done = clients?.disconnect() ?? Promise.resolve();
      clients = undefined;
      return done.then(() => ({ type: 'disconnected' }));
    }
    return undefined;
  });
}

const ask = <T extends LoadMessage['type']>(child: Child, message: LoadMessage, type: T, timeoutMs: number) =>
  request<LoadMessage, T>(child, message, type, timeoutMs);

// ---- the service

interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly afterGc: boolean;
}
type ProbeMessage = { type: 'memory' } | { type: 'memory'; memory: Memory };

async function memoryOf(service: Child): Promise<Memory> {
  const reply = await request<ProbeMessage, 'memory'>(service, { type: 'memory' }, 'memory', 30_000);
  if (!('memory' in reply)) throw new Error('the service answered without its memory');
  return reply.memory;
}

interface Lag {
  /** Records the service's consumer groups have not handled yet, summed. */
  readonly pending: number;
  /** The group with the most, and its count. */
  readonly worst: string;
  /** Records the in-process bus holds (NaN on Kafka, whose retention is the broker's). */
  readonly retained: number;
}

/** The embedded service's consumer lag (summed over its groups, and its largest group) and the records its bus holds. */
async function memoryBusLagOf(metricsPort: number): Promise<Lag> {
  const metrics = await scrapeMetrics(metricsPort);
  let worst = '';
  let worstPending = -1;
  for (const [key, value] of metrics) {
    const group = /^tickcast_bus_memory_pending_records\{group="([^"]*)"\}$/.exec(key)?.[1];
    if (group !== undefined && value > worstPending) [worst, worstPending] = [`${group} ${value}`, value];
  }
  return {
    pending: metrics.get('tickcast_bus_memory_pending_records') ?? Number.NaN,
    worst,
    retained: metrics.get('tickcast_bus_memory_records') ?? Number.NaN,
  };
}

/**
 * The distributed service's consumer lag: for each consumer group under its prefix, the
 * topics' end offsets minus the group's committed offsets. Partitions written in Kafka
 * transactions end with a commit marker no consumer reads, so an idle group shows up to one
 * record per partition; partitions a group never committed are not counted.
 */
async function kafkaLagOf(admin: Admin, groupPrefix: string): Promise<Lag> {
  const { groups } = await admin.listGroups();
  const ends = new Map<string, Map<number, number>>();
  let pending = 0;
  let worst = '';
  let worstPending = -1;
  for (const { groupId } of groups.filter((g) => g.groupId.startsWith(groupPrefix))) {
    let groupPending = 0;
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId })) {
      let topicEnds = ends.get(topic);
      if (!topicEnds) {
        topicEnds = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
        ends.set(topic, topicEnds);
      }
      for (const { partition, offset } of partitions) {
        const committed = Number(offset);
        if (committed >= 0) groupPending += Math.max(0, (topicEnds.get(partition) ?? committed) - committed);
      }
    }
    pending += groupPending;
    if (groupPending > worstPending) {
      [worst, worstPending] = [`${groupId.slice(groupPrefix.length)} ${groupPending}`, groupPending];
    }
  }
  return { pending, worst, retained: Number.NaN };
}

// ---- the benchmark

interface Row {
  readonly at: number;
  readonly memory: Memory;
  readonly lag: Lag;
  readonly received: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly problems: number;
  readonly offsets: number[];
  readonly replayedThrough: number;
}

export async function run(flags: SoakFlags = {}): Promise<void> {
  const minutes = Number(flags.minutes ?? DEFAULT_MINUTES);
  const sampleSeconds = Number(flags['sample-seconds'] ?? DEFAULT_SAMPLE_SECONDS);
  const clients = Number(flags.clients ?? DEFAULT_CLIENTS);
  const servicesConfigured = Boolean(process.env['KAFKA_BROKERS'] && process.env['DATABASE_URL']);
  const systems: System[] | undefined = {
    embedded: ['embedded' as const],
    distributed: ['distributed' as const],
    both: ['embedded' as const, 'distributed' as const],
  }[flags.system ?? (servicesConfigured ? 'both' : 'embedded')];
  if (!(minutes > 0) || !(sampleSeconds > 0) || !Number.isInteger(clients) || clients < 2 || !systems) {
    throw new Error(
      'usage: npm run bench -- soak [--system embedded|distributed|both] [--minutes 30] [--sample-seconds 10] [--clients 1000]',
    );
  }
  if (systems.includes('distributed') && !servicesConfigured) {
    throw new Error(
      'the distributed soak runs tickcast start over Kafka and PostgreSQL: run `scripts/services up kafka postgres` and `eval "$(scripts/services env)"` first',
    );
  }
  for (const system of systems) {
    const cleanups: Cleanups = [];
    try {
      const options = { system, runMs: minutes * MINUTE_MS, sampleMs: sampleSeconds * 1000, clients };
      if (!(await soak(options, cleanups))) process.exitCode = 1;
    } finally {
      await runCleanups(cleanups, 'soak');
    }
  }
}

async function soak(
  options: { system: System; runMs: number; sampleMs: number; clients: number },
  cleanups: Cleanups,
): Promise<boolean> {
  const log = (line: string) => console.log(line);
  const candles = requireData(BTC_CANDLES);
  const dir = await mkdtemp(join(tmpdir(), 'tickcast-bench-soak-'));
  cleanups.push([`removing ${dir}`, () => rm(dir, { recursive: true, force: true })]);
  const [gatewayPort, metricsPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TICKCAST_DATA_DIR: dir,
    PAIRS: PAIR,
    PREDICTION_HORIZONS: HORIZONS.join(','),
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
    GATEWAY_PORT: String(gatewayPort),
    METRICS_PORT: String(metricsPort),
    ...OPEN_GATEWAY_ENV,
  };
  let lagOf = () => memoryBusLagOf(metricsPort);
  if (options.system === 'embedded') {
    // Whatever services this shell has configured are not used.
    for (const variable of ['KAFKA_BROKERS', 'DATABASE_URL', 'MLFLOW_TRACKING_URI', 'ELASTICSEARCH_URL'])
      delete env[variable];
  } else {
    // Kafka topics and groups, a PostgreSQL schema and Elasticsearch indices (when configured) of its own.
    const iso = await isolate('soak');
    cleanups.push([`removing the soak's topics, schema and indices (${iso.id})`, () => iso.close()]);
    Object.assign(env, iso.env, { METRICS_PORT: String(metricsPort), LOG_LEVEL: env['LOG_LEVEL'] });
    // MLflow's model names are not namespaced: a soak would take over the shared champions.
    delete env['MLFLOW_TRACKING_URI'];
    const admin = new Kafka({
      brokers: iso.config.KAFKA_BROKERS ?? [],
      clientId: 'soak-lag',
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    cleanups.push(['disconnecting the lag probe', () => admin.disconnect()]);
    lagOf = () => kafkaLagOf(admin, iso.env['TICKCAST_GROUP_PREFIX'] ?? '');
  }
  const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

  log(
    `soak: tickcast start (${options.system === 'embedded' ? 'embedded' : `over Kafka ${env['KAFKA_BROKERS']} and PostgreSQL${env['ELASTICSEARCH_URL'] ? ' and Elasticsearch' : ''}, local model registry`}) replaying ${PAIR} at ${SPEED}x for ${options.runMs / MINUTE_MS} min, ` +
      `${options.clients} graphql-ws clients (half candleUpdated 1m, half predictionCreated), a sample every ` +
      `${options.sampleMs / 1000} s; ${cpus().length} CPUs, Node ${process.version}, load average ` +
      `${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} at start`,
  );
  const setupStarted = Date.now();
  const url = `http://127.0.0.1:${gatewayPort}/graphql`;
  const service = await startService(
    'tickcast start',
    [
      '--import',
      fileURLToPath(new URL('./soak-probe.ts', import.meta.url)),
      main,
      'start',
      '--source',
      'replay',
      '--replay',
      candles,
      '--speed',
      String(SPEED),
      '--catch-up',
      String(CATCH_UP_MINUTES),
    ],
    env,
    url,
    cleanups,
    { ipc: true, nodeFlags: ['--expose-gc'], graceMs: 30_000 },
  );
  let serviceExit: string | null = null;
  void service.exited.then((code) => (serviceExit = String(code)));

  const perKind = { candles: Math.ceil(options.clients / 2), predictions: Math.floor(options.clients / 2) };
  const kinds = ['candles', 'predictions'] as const;
  const loads = startLoadGenerators(
    kinds.map((kind) => `soak load ${kind}`),
    fileURLToPath(import.meta.url),
    env,
    cleanups,
  ).map((load, i) => ({ kind: kinds[i]!, load }));
  cleanups.push([
    'disconnecting the clients',
    () =>
      Promise.all(
        loads.map(({ load }) => ask(load, { type: 'disconnect' }, 'disconnected', 120_000).catch(() => null)),
      ),
  ]);
  const connected = await Promise.all(
    loads.map(
      async ({ kind, load }) =>
        (
          await ask(
            load,
            { type: 'connect', url: url.replace(/^http/, 'ws'), kind, count: perKind[kind] },
            'connected',
            300_000,
          )
        ).sample,
    ),
  );
  const connectedCount = connected.reduce((sum, s) => sum + s.connected, 0);
  if (connectedCount < options.clients) {
    throw new Error(
      `${options.clients - connectedCount} clients did not connect: ${connected.find((s) => s.firstProblem)?.firstProblem}`,
    );
  }
  const sampleLoads = (final = false) =>
    Promise.all(loads.map(async ({ load }) => (await ask(load, { type: 'sample', final }, 'sampled', 60_000)).sample));
  // The run starts once every client has had an event of its stream: predictions follow the indicators' warm-up.
  const warmDeadline = Date.now() + WARMUP_TIMEOUT_MS;
  for (;;) {
    const samples = await sampleLoads();
    if (samples.every((s, i) => s.warm === perKind[loads[i]!.kind])) break;
    if (serviceExit !== null) throw new Error(`tickcast start exited (${serviceExit}):\n${service.output()}`);
    if (Date.now() > warmDeadline) {
      throw new Error(
        `not every client got an event in ${WARMUP_TIMEOUT_MS / 1000} s: ${samples.map((s, i) => `${loads[i]!.kind} ${s.warm}`).join(', ')}\n${service.output()}`,
      );
    }
    await sleep(1_000);
  }
  log(
    `  ${connectedCount} clients connected and following their streams ${((Date.now() - setupStarted) / 1000).toFixed(0)} s ` +
      `after the start; memory ${(await memoryOf(service)).afterGc ? 'after a full GC (--expose-gc)' : 'without a GC (no --expose-gc)'}`,
  );

  const started = Date.now();
  const warmUpEnd = started + warmUpMs(options.runMs);
  const rows: Row[] = [];
  let fastest = Infinity;
  printHeader(log);
  for (let next = started; ;) {
    const final = next - started >= options.runMs;
    if (final) await sleep(DRAIN_MS);
    let sampled: [Memory, Awaited<ReturnType<typeof lagOf>>, LoadSample[]];
    try {
      sampled = await Promise.all([memoryOf(service), lagOf(), sampleLoads(final)]);
    } catch (error) {
      // The service exiting fails the memory request: report the run up to there.
      const exit = await Promise.race([service.exited.then(String), sleep(2_000).then(() => null)]);
      if (exit === null) throw error;
      serviceExit = exit;
      log(`  tickcast start exited (${exit}):\n${service.output().slice(-3_000)}`);
      break;
    }
    const [memory, lag, samples] = sampled;
    const offsets = samples.flatMap((s) => s.offsets);
    for (const offset of offsets) fastest = Math.min(fastest, offset);
    const candleNewest = samples[0]!.newest.find(([stream]) => stream === '1m')?.[1] ?? Number.NaN;
    const row: Row = {
      at: Date.now(),
      memory,
      lag,
      received: samples.reduce((sum, s) => sum + s.received, 0),
      lost: samples.reduce((sum, s) => sum + s.lost, 0),
      duplicated: samples.reduce((sum, s) => sum + s.duplicated, 0),
      problems: samples.reduce(
        (sum, s) => sum + s.errors + s.connectFailures + Object.values(s.closes).reduce((closes, n) => closes + n, 0),
        0,
      ),
      offsets,
      replayedThrough: candleNewest,
    };
    rows.push(row);
    printRow(log, row, rows.at(-2), started, fastest);
    if (final) {
      const problem = samples.find((s) => s.firstProblem)?.firstProblem;
      if (problem) log(`  first problem a client saw: ${problem}`);
      break;
    }
    if (serviceExit !== null) {
      log(`  tickcast start exited (${serviceExit}):\n${service.output().slice(-3_000)}`);
      break;
    }
    next += options.sampleMs;
    await sleep(Math.max(0, Math.min(next, started + options.runMs) - Date.now()));
  }
  if (rows.length === 0) return false;
  return summarize(log, rows, { started, warmUpEnd, fastest, serviceExit, service });
}

// ---- output

const COLUMNS = [
  ['min', 5],
  ['replayed to', 16],
  ['RSS MB', 7],
  ['heap MB', 7],
  ['lag (records)', 13],
  ['bus records', 11],
  ['events/s', 8],
  ['p50 ms', 7],
  ['p99 ms', 7],
  ['max ms', 7],
  ['lost', 5],
  ['dup', 5],
  ['errors', 6],
] as const;

function printHeader(log: (line: string) => void): void {
  log(`  ${COLUMNS.map(([title, width]) => title.padStart(width)).join(' ')}`);
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');

function printRow(log: (line: string) => void, row: Row, previous: Row | undefined, started: number, fastest: number) {
  const latencies = row.offsets.map((offset) => offset - fastest);
  const seconds = previous ? (row.at - previous.at) / 1000 : Number.NaN;
  const cells = [
    ((row.at - started) / MINUTE_MS).toFixed(1),
    Number.isFinite(row.replayedThrough) ? new Date(row.replayedThrough).toISOString().slice(0, 16) : 'n/a',
    mb(row.memory.rss),
    mb(row.memory.heapUsed),
    String(row.lag.pending),
    Number.isFinite(row.lag.retained) ? String(row.lag.retained) : '-',
    previous ? ((row.received - previous.received) / seconds).toFixed(0) : '',
    ms(percentileOf(latencies, 0.5)),
    ms(percentileOf(latencies, 0.99)),
    ms(percentileOf(latencies, 1)),
    String(row.lost),
    String(row.duplicated),
    String(row.problems),
  ];
  log(`  ${cells.map((cell, i) => cell.padStart(COLUMNS[i]![1])).join(' ')}`);
}

function summarize(
  log: (line: string) => void,
  rows: readonly Row[],
  run: { started: number; warmUpEnd: number; fastest: number; serviceExit: string | null; service: Child },
): boolean {
  const last = rows.at(-1)!;
  const rss = growth(
    rows.map((r) => ({ at: r.at, value: r.memory.rss })),
    run.warmUpEnd,
    MEMORY_WINDOW,
  );
  const heap = growth(
    rows.map((r) => ({ at: r.at, value: r.memory.heapUsed })),
    run.warmUpEnd,
    MEMORY_WINDOW,
  );
  const latencies = rows.flatMap((r) => r.offsets.map((offset) => offset - run.fastest));
  const firstMinutes = rows.filter((r) => r.at - run.started <= 5 * MINUTE_MS).flatMap((r) => r.offsets);
  const lastMinutes = rows.filter((r) => last.at - r.at <= 5 * MINUTE_MS).flatMap((r) => r.offsets);
  const p99 = (offsets: number[]) =>
    percentileOf(
      offsets.map((o) => o - run.fastest),
      0.99,
    );
  const pct = (ratio: number) => (Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)} %` : 'n/a');
  const checks = [
    {
      name: 'RSS growth after warm-up',
      value: pct(rss),
      limit: `< ${pct(MEMORY_GROWTH_LIMIT)}`,
      ratio: rss / MEMORY_GROWTH_LIMIT,
      ok: rss < MEMORY_GROWTH_LIMIT,
    },
    {
      name: `heap growth after warm-up (${last.memory.afterGc ? 'after GC' : 'no GC'})`,
      value: pct(heap),
      limit: `< ${pct(MEMORY_GROWTH_LIMIT)}`,
      ratio: heap / MEMORY_GROWTH_LIMIT,
      ok: heap < MEMORY_GROWTH_LIMIT,
    },
    { name: 'lost events', value: String(last.lost), limit: '0', ratio: Number.NaN, ok: last.lost === 0 },
    {
      name: 'duplicated events',
      value: String(last.duplicated),
      limit: '0',
      ratio: Number.NaN,
      ok: last.duplicated === 0,
    },
    {
      name: 'subscription errors, closed sockets',
      value: String(last.problems),
      limit: '0',
      ratio: Number.NaN,
      ok: last.problems === 0,
    },
    {
      name: 'service still running',
      value: run.serviceExit === null ? 'yes' : `exited ${run.serviceExit}`,
      limit: 'yes',
      ratio: Number.NaN,
      ok: run.serviceExit === null,
    },
  ];
  const first = rows.find((r) => r.at >= run.warmUpEnd) ?? rows[0]!;
  log(
    `  summary over ${((last.at - run.started) / MINUTE_MS).toFixed(1)} min (memory baseline from ` +
      `${((first.at - run.started) / MINUTE_MS).toFixed(1)} min, median of ${MEMORY_WINDOW} samples at each end):`,
  );
  log(
    `    memory: RSS ${mb(first.memory.rss)} -> ${mb(last.memory.rss)} MB, heap ${mb(first.memory.heapUsed)} -> ` +
      `${mb(last.memory.heapUsed)} MB; lag max ${Math.max(...rows.map((r) => r.lag.pending))} records, at the end ` +
      `${last.lag.pending} (largest group: ${last.lag.worst || 'none'})` +
      (Number.isFinite(last.lag.retained) ? `; bus holds ${last.lag.retained} records` : ''),
  );
  log(
    `    latency above the fastest delivery (${latencies.length} checked events): p50 ${ms(percentileOf(latencies, 0.5))} ms, ` +
      `p99 ${ms(percentileOf(latencies, 0.99))} ms, max ${ms(percentileOf(latencies, 1))} ms; ` +
      `p99 in the first 5 min ${ms(p99(firstMinutes))} ms, in the last 5 min ${ms(p99(lastMinutes))} ms`,
  );
  for (const check of checks) {
    log(
      `    ${check.ok ? 'ok  ' : 'FAIL'} ${check.name.padEnd(40)} ${check.value.padStart(9)}  limit ${check.limit}` +
        (Number.isFinite(check.ratio) ? `  (${check.ratio.toFixed(2)} of the limit)` : ''),
    );
  }
  const passed = checks.every((c) => c.ok);
  if (!passed) {
    const tail = run.service
      .output()
      .split('\n')
      .filter((line) => /"level":(40|50|60)/.test(line));
    if (tail.length > 0) log(`  last warning/error lines of tickcast start:\n${tail.slice(-5).join('\n')}`);
  }
  return passed;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === 'load') serveLoad();
  else {
    console.error('bench/soak.ts runs its own children; run `npm run bench -- soak`');
    process.exit(2);
  }
}
