/**
 * Scaling figures (issue 16): the candles and indicators processors, and the gateway, each run
 * as 1, 2 and 3 replicas (BENCH_SCALE_REPLICAS), every replica a child process, on the same
 * input or query mix each time. Each run prints throughput, a latency figure and the CPU time of
 * every replica, and the ratios against the first replica count measured in the same run. On
 * a 2-core machine more replicas cannot run faster than 2 cores allow, so the figure to carry to
 * a cluster is the CPU per item at each replica count; the bench derives its "on a cluster,
 * expect" line from it.
 *
 * Pipeline, per replica count N, in topics and groups of its own:
 * - input: BENCH_SCALE_PAIRS pairs, each replaying BENCH_SCALE_DAYS real days of BTC/USD or
 *   ETH/USD minutes (alternately) as trades, interleaved by time; the pairs are named so that
 *   they spread evenly over the BENCH_SCALE_PARTITIONS partitions (one each by default), so
 *   every task (partition) carries the same load and N replicas share it evenly;
 * - N `tickcast stream candles` and N `tickcast stream indicators` (bin/tickcast), over
 *   market events, candles and indicators topics created here with that many partitions;
 * - warm-up: every pair's first WARM_UP_MINUTES, processed before timing, so every task is open
 *   (transactional producer initialised, state restored) and each replica's code is warm;
 * - timed: the rest, published inside one Kafka transaction that stays open until all of it is
 *   written, then committed: the processors read committed records only, so they see none of it
 *   before the commit and all of it at once. The clock runs from the commit to the last
 *   indicator set read by an audit consumer: no publishing and no rebalance in it.
 * - latency: p99 of the processors' own histogram of batch time (`tickcast_processor_batch_seconds`,
 *   process and commit one input batch in its transaction) over the timed window, summed over
 *   the replicas and interpolated within its bucket as Prometheus' `histogram_quantile` does; the
 *   buckets are coarse (…, 0.1, 0.5, 1, 5 s), so the exact mean is printed beside it;
 * - CPU: utime + stime of each replica from /proc/<pid>/stat (all its threads: GC, libuv's pool,
 *   the tsx loader) over the timed window.
 *
 * Gateway, per replica count N: N `tickcast gateway` children in front of the same five real
 * subgraphs over a real day of BTC/USD (bench/gateway.ts's backend: one subgraphs child, one
 * load generator child); the load generator keeps BENCH_SCALE_CONCURRENCY requests in flight,
 * round-robin over the replicas, alternating the dashboard's cross-subgraph MarketOverview and
 * a markets-only query, each under several operation names (see OPERATION_VARIANTS), every answer
 * checked byte for byte. Each replica count is warmed up for
 * BENCH_SCALE_WARMUP_SECONDS × N (the same number of requests per replica), then timed for
 * BENCH_SCALE_SECONDS. The gateways run open (no auth, limits no run reaches, as
 * bench/subscriptions.ts runs them).
 *
 * BENCH_SCALE_PARTS=pipeline or =gateway runs one half.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { z } from 'zod';
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import type { MarketEvent } from '../schema/events.ts';
import { changelogTopic, TOPICS } from '../schema/topics.ts';
import { encodeValue } from '../streams/bus/codec.ts';
import { KafkaBus } from '../streams/bus/kafka.ts';
import { replayCandles } from '../streams/sources/candle-replay.ts';
import { BTC_CANDLES, ETH_CANDLES, FULL_DAY } from '../test/support/data.ts';
import { loadDay } from '../test/support/market-data.ts';
import { freePort } from '../test/support/ports.ts';
import { startService, stopGracefully, type Service } from '../test/support/processes.ts';
import { spreadPairs } from '../test/support/spread-pairs.ts';
import { deleteTopics } from '../test/support/services.ts';
import {
  ask,
  CROSS_QUERY,
  measure,
  requireComplete,
  requireSame,
  SINGLE_QUERY,
  startBackend,
  warmUp,
  type LoadSpec,
  type Measured,
} from './gateway.ts';
import { addWindow, EMPTY_HISTOGRAM, histogramOf, histogramQuantile, type Histogram } from './histogram.ts';
import { expectedIndicatorSets } from './streams.ts';
import { runCleanups, stopChild, type Child, type Cleanups } from './subscriptions/children.ts';
import { startGateway } from './subscriptions/gateways.ts';
import { cpuSeconds, mainThreadCpuSeconds, scrapeMetrics } from './subscriptions/process-metrics.ts';

const positiveInt = z.coerce.number().int().positive();
const SETTINGS = z.object({
  /** Replica counts, run in this order; ratios are against the first. */
  BENCH_SCALE_REPLICAS: z
    .string()
    .default('1,2,3')
    .transform((s) => s.split(',').map(Number))
    .pipe(z.array(z.number().int().positive()).nonempty()),
  BENCH_SCALE_PARTS: z
    .string()
    .default('pipeline,gateway')
    .transform((s) => s.split(',').map((n) => n.trim()))
    .pipe(z.array(z.enum(['pipeline', 'gateway'])).nonempty()),
  BENCH_SCALE_PARTITIONS: positiveInt.default(6),
  BENCH_SCALE_PAIRS: positiveInt.default(6),
  BENCH_SCALE_DAYS: positiveInt.max(30).default(3),
  BENCH_SCALE_CONCURRENCY: positiveInt.default(16),
  BENCH_SCALE_WARMUP_SECONDS: z.coerce.number().positive().default(3),
  BENCH_SCALE_SECONDS: z.coerce.number().positive().default(8),
});

function parseSettings(env: NodeJS.ProcessEnv): z.infer<typeof SETTINGS> {
  const parsed = SETTINGS.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  throw new Error(`bench scale: ${problems} (see the settings at the top of bench/scale.ts)`);
}

const settings = parseSettings(process.env);

/**
 * Long enough for every replica's hot code to be optimised before the clock starts, as in a
 * replica that has run for a while: each of N replicas sees 1/N of the warm-up, and after 60
 * minutes three replicas still compiled in the timed window (CPU per trade 1.45–1.86× one
 * replica's, against 1.17× after 360 minutes, most of the difference on V8's compiler threads).
 */
const WARM_UP_MINUTES = 360;
/**
 * The timed input's transaction stays open while it is written (seconds on a busy machine);
 * kafkajs' default of 60 s would let the coordinator abort a slow one. Brokers allow 15 min.
 */
const TRANSACTION_TIMEOUT_MS = 300_000;
/** Records per send of the input: about 200 bytes each, well under a broker's 1 MiB request. */
const SEND_CHUNK = 2_000;
/** Start-up, group joins and processing of one run: generous, on a shared 2-core machine. */
const STEP_TIMEOUT_MS = 300_000;
const PROCESSORS = ['candles', 'indicators'] as const;
/** Every replica's settings beside its topic and group prefixes; the expected output is counted with the same. */
const REPLICA_ENV = { CANDLE_LIVE_UPDATES: 'false', LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' };
const logger = createLogger(REPLICA_ENV.LOG_LEVEL);
type Scaled = (typeof PROCESSORS)[number];

export async function run(): Promise<void> {
  const parts = settings.BENCH_SCALE_PARTS;
  // Both checked before either half runs: a missing service should not fail the run minutes in.
  const brokers = process.env['KAFKA_BROKERS'];
  const databaseUrl = process.env['DATABASE_URL'];
  const missing = [
    parts.includes('pipeline') && !brokers && 'Kafka (KAFKA_BROKERS)',
    parts.includes('gateway') && !databaseUrl && 'PostgreSQL (DATABASE_URL)',
  ].filter((m): m is string => typeof m === 'string');
  if (missing.length > 0)
    throw new Error(
      `the scale benchmark needs ${missing.join(' and ')}: run \`scripts/services up\` and ` +
        '`eval "$(scripts/services env)"` (BENCH_SCALE_PARTS=pipeline or =gateway runs one half)',
    );
  const cleanups: Cleanups = [];
  try {
    console.log(
      `scale: replicas ${settings.BENCH_SCALE_REPLICAS.join(', ')}; ${cpus().length} CPUs, Node ${process.version}, ` +
        `1-min load average ${loadavg()[0]!.toFixed(2)} at start (other work on the machine)`,
    );
    if (brokers && parts.includes('pipeline')) await pipeline(brokers);
    if (databaseUrl && parts.includes('gateway')) await gateway(databaseUrl, cleanups);
  } finally {
    await runCleanups(cleanups, 'scale');
  }
}

// ---- pipeline

interface Input {
  readonly pairs: readonly string[];
  /** Partitions that carry a pair: the tasks that open. */
  readonly tasks: number;
  readonly warmUp: readonly MarketEvent[];
  readonly timed: readonly MarketEvent[];
  readonly timedTrades: number;
  readonly warmUpSets: number;
  readonly totalSets: number;
}

interface Replica {
  readonly processor: Scaled;
  readonly service: Service;
  readonly metricsPort: number;
}

interface ReplicaSample {
  readonly cpu: number;
  readonly mainThreadCpu: number;
  readonly batches: Histogram;
  readonly tasks: number;
  /** Group joins so far: one at start, one per rebalance since. */
  readonly joins: number;
}

interface PipelineRun {
  readonly replicas: number;
  readonly seconds: number;
  /** CPU seconds of each replica over the timed window. */
  readonly cpu: Record<Scaled, number[]>;
  /** The part of `cpu` on the replicas' main threads, summed per processor. */
  readonly mainThreadCpu: Record<Scaled, number>;
  /** Batch times of each processor over the timed window, all its replicas'. */
  readonly batches: Record<Scaled, Histogram>;
  /** Group joins of all replicas in the timed window (rebalances): 0 unless a replica dropped out. */
  readonly rejoins: number;
  /** CPU seconds per second all replicas used together with no input to process. */
  readonly idleCpu: number;
  /** The machine's 1-minute load average as the timed window began (other work on it). */
  readonly load: number;
}

async function pipeline(brokers: string): Promise<void> {
  const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'bench-scale', logLevel: logLevel.NOTHING });
  const input = await pipelineInput();
  const id = `bench${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const runs: PipelineRun[] = [];
  for (const replicas of settings.BENCH_SCALE_REPLICAS) {
    runs.push(await pipelineRun(kafka, brokers.split(','), `${id}.n${replicas}.`, replicas, input));
  }
  printPipeline(input, runs, brokers);
}

async function pipelineInput(): Promise<Input> {
  const { pairs, tasks } = spreadPairs(settings.BENCH_SCALE_PAIRS, settings.BENCH_SCALE_PARTITIONS);
  const days = { from: FULL_DAY.from, to: FULL_DAY.from + settings.BENCH_SCALE_DAYS * 86_400_000 };
  const [btc, eth] = await Promise.all([loadDay(BTC_CANDLES, days), loadDay(ETH_CANDLES, days)]);
  const perPair = await Promise.all(
    pairs.map(async (pair, i) => {
      const events: MarketEvent[] = [];
      await replayCandles(i % 2 === 0 ? btc : eth, async (batch) => void events.push(...batch), { pair, speed: 0 });
      return events;
    }),
  );
  // As a live feed of many pairs arrives: by event time, each pair in its own order.
  const events = perPair
    .flatMap((list, pair) => list.map((event, index) => ({ event, pair, index })))
    .sort((a, b) => a.event.time - b.event.time || a.pair - b.pair || a.index - b.index)
    .map(({ event }) => event);
  const warmUpEnd = days.from + WARM_UP_MINUTES * 60_000;
  const split = events.findIndex((e) => e.time >= warmUpEnd);
  const warmUp = events.slice(0, split);
  const timed = events.slice(split);
  const config = loadConfig({ ...process.env, ...REPLICA_ENV });
  const candleConfig = {
    intervals: config.CANDLE_INTERVALS,
    allowedLatenessMs: config.CANDLE_ALLOWED_LATENESS_MS,
    maxGapFillMinutes: config.CANDLE_MAX_GAP_FILL_MINUTES,
  };
  return {
    pairs,
    tasks,
    warmUp,
    timed,
    timedTrades: timed.filter((e) => e.kind === 'trade').length,
    warmUpSets: expectedIndicatorSets(warmUp, candleConfig),
    totalSets: expectedIndicatorSets(events, candleConfig),
  };
}

async function pipelineRun(
  kafka: Kafka,
  brokers: string[],
  prefix: string,
  replicas: number,
  input: Input,
): Promise<PipelineRun> {
  const cleanups: Cleanups = [];
  const admin = kafka.admin();
  await admin.connect();
  cleanups.push(['disconnecting the admin client', () => admin.disconnect()]);
  try {
    // Every topic the replicas use, before any starts. The scaled ones (and the changelogs, which
    // must match them) with BENCH_SCALE_PARTITIONS: a processor would create them with the declared
    // count. The others too: replicas starting together race to create them, and the loser's next
    // metadata request can fail with UNKNOWN_TOPIC_OR_PARTITION, which ends that process. The bus's
    // own topic creation (not createBus's, which creates every topic with its declared partitions)
    // waits out a creation a busy broker leaves in doubt.
    const scaled = [
      TOPICS.marketEvents,
      TOPICS.candles,
      TOPICS.indicators,
      ...PROCESSORS.map((p) => changelogTopic(p)),
    ].map((t) => ({ ...t, partitions: settings.BENCH_SCALE_PARTITIONS }));
    const bus = new KafkaBus(
      {
        brokers,
        clientId: 'bench-scale',
        groupPrefix: prefix,
        topicPrefix: prefix,
        sessionTimeoutMs: 30_000,
        heartbeatIntervalMs: 3_000,
      },
      logger,
    );
    await bus
      .ensureTopics([...scaled, ...Object.values(TOPICS).filter((t) => !scaled.some((s) => s.name === t.name))])
      .finally(() => bus.close());
    cleanups.push([`deleting topics ${prefix}*`, () => deleteTopics(brokers, prefix)]);
    const groups = [...PROCESSORS.map((p) => `${prefix}${p}`), `${prefix}audit`];
    cleanups.push(['deleting the consumer groups', () => admin.deleteGroups(groups)]);

    const env = { ...REPLICA_ENV, KAFKA_TOPIC_PREFIX: prefix, TICKCAST_GROUP_PREFIX: prefix };
    const started: Replica[] = [];
    cleanups.push(['stopping the replicas', () => Promise.all(started.map((r) => stopGracefully(r.service)))]);
    for (const processor of PROCESSORS) {
      for (let i = 0; i < replicas; i++) {
        const metricsPort = await freePort();
        const service = startService(`${processor}-${i}`, ['stream', processor], {
          ...env,
          METRICS_PORT: String(metricsPort),
        });
        started.push({ processor, service, metricsPort });
      }
    }
    const until = (what: string, probe: () => Promise<boolean>) => waitAlive(started, what, probe);
    await until(`${replicas} replicas of each processor in a stable group`, async () => {
      const { groups: described } = await admin.describeGroups(PROCESSORS.map((p) => `${prefix}${p}`));
      return described.every((g) => g.state === 'Stable' && g.members.length === replicas);
    });

    const audit = await countRecords(kafka, `${prefix}audit`, `${prefix}${TOPICS.indicators.name}`);
    cleanups.push(['stopping the audit consumer', () => audit.stop()]);
    const producer = kafka.producer({
      transactionalId: `${prefix}bench-input`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: TRANSACTION_TIMEOUT_MS,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    cleanups.push(['disconnecting the input producer', () => producer.disconnect()]);
    const topic = `${prefix}${TOPICS.marketEvents.name}`;

    await (await writeTransaction(producer, topic, input.warmUp)).commit();
    await until('the warm-up indicator sets', async () => audit.count() >= input.warmUpSets);
    await until('every task open', async () => {
      const samples = await Promise.all(started.map(sample));
      return PROCESSORS.every(
        (p) => samples.filter((_, i) => started[i]!.processor === p).reduce((n, s) => n + s.tasks, 0) === input.tasks,
      );
    });

    // While the timed input is written the replicas can see none of it: what they use meanwhile is
    // what a replica costs with nothing to do (fetches that come back empty, heartbeats, timers).
    const idleFrom = await Promise.all(started.map(sample));
    const idleClock = performance.now();
    const transaction = await writeTransaction(producer, topic, input.timed);
    const before = await Promise.all(started.map(sample));
    const idleSeconds = (performance.now() - idleClock) / 1000;
    const load = loadavg()[0]!;
    const clock = performance.now();
    await transaction.commit();
    await until('the last indicator set', async () => audit.count() >= input.totalSets);
    const seconds = (audit.lastAt() - clock) / 1000;
    const after = await Promise.all(started.map(sample));
    if (audit.count() !== input.totalSets)
      throw new Error(`${audit.count()} indicator sets on the topic, expected ${input.totalSets}`);

    const cpu = { candles: [] as number[], indicators: [] as number[] };
    const mainThreadCpu = { candles: 0, indicators: 0 };
    const batches = { candles: EMPTY_HISTOGRAM, indicators: EMPTY_HISTOGRAM };
    const idleCpu = started.reduce((sum, _, i) => sum + before[i]!.cpu - idleFrom[i]!.cpu, 0) / idleSeconds;
    started.forEach((replica, i) => {
      cpu[replica.processor].push(after[i]!.cpu - before[i]!.cpu);
      mainThreadCpu[replica.processor] += after[i]!.mainThreadCpu - before[i]!.mainThreadCpu;
      batches[replica.processor] = addWindow(batches[replica.processor], after[i]!.batches, before[i]!.batches);
    });
    const rejoins = started.reduce((sum, _, i) => sum + after[i]!.joins - before[i]!.joins, 0);
    return { replicas, seconds, cpu, mainThreadCpu, batches, idleCpu, rejoins, load };
  } finally {
    await runCleanups(cleanups, 'scale');
  }
}

/** Polls `probe` (every 100 ms) until it holds; fails with the replica's output if one exits meanwhile. */
async function waitAlive(replicas: readonly Replica[], what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const dead = replicas.find((r) => r.service.child.exitCode !== null || r.service.child.signalCode !== null);
    if (dead) throw new Error(`${dead.service.name} exited while waiting for ${what}:\n${dead.service.output()}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type Transaction = Awaited<ReturnType<Producer['transaction']>>;

/** Opens a transaction and writes `events` in it, keyed by pair as the sources publish them; not committed. */
async function writeTransaction(
  producer: Producer,
  topic: string,
  events: readonly MarketEvent[],
): Promise<Transaction> {
  const transaction = await producer.transaction();
  try {
    for (let i = 0; i < events.length; i += SEND_CHUNK) {
      await transaction.send({
        topic,
        acks: -1,
        messages: events.slice(i, i + SEND_CHUNK).map((e) => ({ key: e.pair, value: encodeValue(e) })),
      });
    }
  } catch (error) {
    await transaction.abort().catch(() => undefined);
    throw error;
  }
  return transaction;
}

/** A read-committed consumer counting the records of `topic`, and when the last of them arrived. */
async function countRecords(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<{ count(): number; lastAt(): number; stop(): Promise<void> }> {
  const consumer = kafka.consumer({ groupId, readUncommitted: false });
  let seen = 0;
  let lastAt = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      seen += batch.messages.length;
      lastAt = performance.now();
    },
  });
  return { count: () => seen, lastAt: () => lastAt, stop: () => consumer.disconnect() };
}

async function sample(replica: Replica): Promise<ReplicaSample> {
  const pid = replica.service.child.pid!;
  const [cpu, mainThreadCpu, metrics] = await Promise.all([
    cpuSeconds(pid),
    mainThreadCpuSeconds(pid),
    scrapeMetrics(replica.metricsPort),
  ]);
  return {
    cpu,
    mainThreadCpu,
    batches: histogramOf(metrics, 'tickcast_processor_batch_seconds'),
    tasks: metrics.get('tickcast_processor_tasks') ?? 0,
    joins: metrics.get('tickcast_bus_group_joins_total') ?? 0,
  };
}

function printPipeline(input: Input, runs: readonly PipelineRun[], brokers: string): void {
  const int = (n: number) => Math.round(n).toLocaleString('en-US');
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const perTradeUs = (cpu: readonly number[]) => (sum(cpu) / input.timedTrades) * 1e6;
  const rate = (r: PipelineRun) => input.timedTrades / r.seconds;
  const ms = (seconds: number) => (seconds * 1000).toFixed(0);
  const batch = (h: Histogram) =>
    h.count > 0 ? `${ms(histogramQuantile(h, 0.99))}/${ms(h.sum / h.count)}/${h.count}` : '-';
  const base = runs[0]!;
  console.log(
    `scale, pipeline: trades -> candles -> indicators over Kafka at ${brokers}, ${input.pairs.length} pairs ` +
      `(${input.pairs.join(' ')}) over ${settings.BENCH_SCALE_PARTITIONS} partitions (${input.tasks} tasks busy), ` +
      `${settings.BENCH_SCALE_DAYS} real day(s) each of BTC/USD and ETH/USD minutes as trades; after a ` +
      `${WARM_UP_MINUTES}-minute warm-up, ${int(input.timedTrades)} trades released at once (one committed ` +
      `transaction), timed to the last of ${int(input.totalSets)} indicator sets; each replica a ` +
      '`tickcast stream` child; CPU = utime+stime from /proc/<pid>/stat over the timed window; idle = the ' +
      'same replicas while the timed input was written (invisible to them); main thread % = the share of the ' +
      "main thread (JavaScript) in the replicas' CPU, the rest V8's GC and compiler threads and libuv's pool; " +
      'rejoins = group joins in the timed window (rebalances); load = 1-min load average',
  );
  const head = [
    'replicas'.padEnd(8),
    'trades/s'.padStart(8),
    '÷ first'.padStart(7),
    'batch ms p99/mean/n candles'.padStart(28),
    'indicators'.padStart(15),
    'CPU s per replica, candles | indicators'.padEnd(40),
    'CPU µs/trade c+i=total'.padStart(24),
    '÷ first'.padStart(7),
    'main thread % c/i'.padStart(17),
    'all replicas CPU-s/s busy/idle'.padStart(30),
    'rejoins'.padStart(7),
    'load'.padStart(5),
  ];
  console.log(`  ${head.join(' ')}`);
  for (const r of runs) {
    const total = perTradeUs([...r.cpu.candles, ...r.cpu.indicators]);
    const baseTotal = perTradeUs([...base.cpu.candles, ...base.cpu.indicators]);
    const perReplica = `${r.cpu.candles.map((c) => c.toFixed(2)).join(' ')} | ${r.cpu.indicators
      .map((c) => c.toFixed(2))
      .join(' ')}`;
    const perTrade = `${perTradeUs(r.cpu.candles).toFixed(1)}+${perTradeUs(r.cpu.indicators).toFixed(1)}=${total.toFixed(1)}`;
    console.log(
      `  ${[
        String(r.replicas).padEnd(8),
        int(rate(r)).padStart(8),
        (rate(r) / rate(base)).toFixed(3).padStart(7),
        batch(r.batches.candles).padStart(28),
        batch(r.batches.indicators).padStart(15),
        perReplica.padEnd(40),
        perTrade.padStart(24),
        (total / baseTotal).toFixed(3).padStart(7),
        PROCESSORS.map((p) => ((100 * r.mainThreadCpu[p]) / sum(r.cpu[p])).toFixed(0))
          .join('/')
          .padStart(17),
        `${(sum([...r.cpu.candles, ...r.cpu.indicators]) / r.seconds).toFixed(2)}/${r.idleCpu.toFixed(2)}`.padStart(30),
        String(r.rejoins).padStart(7),
        r.load.toFixed(1).padStart(5),
      ].join(' ')}`,
    );
  }
  // One core per replica: a replica's CPU per trade it handles is its processor's CPU per trade of
  // the pipeline (each handles 1/N of the trades with 1/N of the CPU), so it sustains 1/that.
  const last = runs.at(-1)!;
  const candlesPerCore = 1e6 / perTradeUs(last.cpu.candles);
  const indicatorsPerCore = 1e6 / perTradeUs(last.cpu.indicators);
  const bound = Math.min(candlesPerCore, indicatorsPerCore);
  const maxReplicas = input.tasks;
  console.log(
    `  on a cluster, expect (a core per replica, from the CPU per trade at ${last.replicas} replicas): a candles ` +
      `replica ≈ ${int(candlesPerCore)} trades/s, an indicators replica ≈ ${int(indicatorsPerCore)}; N replicas ` +
      `of each ≈ N × ${int(bound)} trades/s, up to ${maxReplicas} replicas (one per busy partition: ` +
      `${int(maxReplicas * bound)} trades/s) — a CPU bound: broker capacity and round trips are not in it`,
  );
}

// ---- gateway

/**
 * The query mix: OPERATION_VARIANTS copies of each query under operation names of their own.
 * Apollo's planner names each subgraph fetch after the client's operation, so the copies' subgraph
 * requests differ and the gateway's in-flight deduplication does not share them: with identical
 * queries, one replica shares more fetches than three do (fewer identical requests in flight per
 * replica), which would show up as a cost of scaling out that only a benchmark's identical
 * queries pay.
 */
const OPERATION_VARIANTS = 8;

function distinctOperations(): [name: string, body: string][] {
  return Array.from({ length: OPERATION_VARIANTS }, (_, k) => [
    [
      `MarketOverview${k}`,
      JSON.stringify({
        ...CROSS_QUERY,
        query: CROSS_QUERY.query.replace('query MarketOverview', `query MarketOverview${k}`),
      }),
    ],
    [`MarketsOnly${k}`, JSON.stringify({ ...SINGLE_QUERY, query: `query MarketsOnly${k} ${SINGLE_QUERY.query}` })],
  ]).flat() as [string, string][];
}

interface GatewayRun {
  readonly replicas: number;
  readonly measured: Measured;
  /** CPU seconds of each replica over the timed window. */
  readonly cpu: readonly number[];
  /** The machine's 1-minute load average as the timed window began (other work on it). */
  readonly load: number;
}

async function gateway(databaseUrl: string, cleanups: Cleanups): Promise<void> {
  const backend = await startBackend(databaseUrl, logger, cleanups, 'scale');
  const env = { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' };
  const queries = distinctOperations();
  const runs: GatewayRun[] = [];
  for (const replicas of settings.BENCH_SCALE_REPLICAS) {
    const started: Child[] = [];
    try {
      const gateways = await Promise.all(
        Array.from({ length: replicas }, () =>
          startGateway('tickcast', { env, subgraphUrls: backend.urls, supergraphFile: '' }),
        ),
      );
      started.push(...gateways.map((g) => g.child));
      const urls = gateways.map((g) => g.url);
      // Every replica gives the same answer to each query, byte for byte, and a complete one.
      const requests: { body: string; expected: string }[] = [];
      for (const [name, body] of queries) {
        const answers = Object.fromEntries(
          await Promise.all(urls.map(async (url, i) => [`replica ${i}`, await ask(url, body, {})] as const)),
        );
        requireSame(name, answers);
        const texts = new Set(Object.values(answers).map((a) => a.text));
        if (texts.size > 1) throw new Error(`${name}: the replicas' answers differ in bytes: ${[...texts].join('\n')}`);
        if (name.startsWith('MarketOverview')) requireComplete(answers['replica 0']!.data, backend.seeded.mae);
        requests.push({ body, expected: answers['replica 0']!.text });
      }
      const spec: LoadSpec = {
        urls,
        requests,
        headers: {},
        concurrency: settings.BENCH_SCALE_CONCURRENCY,
        warmupMs: 0,
        durationMs: settings.BENCH_SCALE_SECONDS * 1000,
      };
      await warmUp(backend.load, {
        ...spec,
        warmupMs: settings.BENCH_SCALE_WARMUP_SECONDS * 1000 * replicas,
        durationMs: 0,
      });
      // measure() reads the gateways' CPU twice, before and after the timed window.
      const samples: number[][] = [];
      const load = loadavg()[0]!;
      const measured = await measure(backend.load, backend.subgraphs, spec, async () => {
        const each = await Promise.all(started.map((child) => cpuSeconds(child.pid)));
        samples.push(each);
        return each.reduce((a, b) => a + b, 0) * 1000;
      });
      runs.push({ replicas, measured, cpu: samples[1]!.map((cpu, i) => cpu - samples[0]![i]!), load });
    } finally {
      await Promise.all(started.map((child) => stopChild(child)));
    }
  }
  printGateway(runs, backend.config.DATABASE_POOL_SIZE);
}

function printGateway(runs: readonly GatewayRun[], poolSize: number): void {
  const fixed = (n: number, digits = 2) => n.toFixed(digits);
  const rate = (r: GatewayRun) => r.measured.requests / r.measured.seconds;
  const base = runs[0]!;
  console.log(
    `scale, gateway: \`tickcast gateway\` replicas (child processes, open: no auth) in front of the five real ` +
      `subgraphs (one child, pg pool ${poolSize}, a real day of BTC/USD); ${settings.BENCH_SCALE_CONCURRENCY} ` +
      `requests in flight round-robin over the replicas, MarketOverview and markets-only alternately, each under ` +
      `${OPERATION_VARIANTS} operation names (no two in flight alike: nothing for in-flight dedupe to share); warm-up ` +
      `${settings.BENCH_SCALE_WARMUP_SECONDS} s × replicas, ${settings.BENCH_SCALE_SECONDS} s timed; CPU = ` +
      'utime+stime from /proc/<pid>/stat',
  );
  const head = [
    'replicas'.padEnd(8),
    'req/s'.padStart(7),
    '÷ first'.padStart(7),
    'p50 ms'.padStart(7),
    'p99 ms'.padStart(7),
    '÷ first'.padStart(7),
    'gw CPU ms/req'.padStart(13),
    '÷ first'.padStart(7),
    'CPU s per replica'.padEnd(20),
    'subgraphs CPU ms/req'.padStart(20),
    'subgraph ops/req'.padStart(16),
    'load gen CPU-s/s'.padStart(16),
    'load'.padStart(5),
  ];
  console.log(`  ${head.join(' ')}`);
  for (const r of runs) {
    const m = r.measured;
    console.log(
      `  ${[
        String(r.replicas).padEnd(8),
        Math.round(rate(r)).toLocaleString('en-US').padStart(7),
        fixed(rate(r) / rate(base), 3).padStart(7),
        fixed(m.p50, 1).padStart(7),
        fixed(m.p99, 1).padStart(7),
        fixed(m.p99 / base.measured.p99, 3).padStart(7),
        fixed(m.gatewayCpuMs).padStart(13),
        fixed(m.gatewayCpuMs / base.measured.gatewayCpuMs, 3).padStart(7),
        r.cpu
          .map((c) => fixed(c))
          .join(' ')
          .padEnd(20),
        fixed(m.subgraphsCpuMs).padStart(20),
        fixed(m.subgraphOperations).padStart(16),
        fixed(m.clientCpu).padStart(16),
        fixed(r.load, 1).padStart(5),
      ].join(' ')}`,
    );
  }
  // A core per replica: a replica sustains 1000 / (its CPU ms per request) requests/s.
  const last = runs.at(-1)!;
  const perReplica = 1000 / last.measured.gatewayCpuMs;
  const subgraphCores = last.measured.subgraphsCpuMs / last.measured.gatewayCpuMs;
  console.log(
    `  on a cluster, expect (a core per replica, from the CPU per request at ${last.replicas} replicas): ` +
      `≈ ${Math.round(perReplica).toLocaleString('en-US')} req/s per gateway replica, N replicas ≈ N × that, ` +
      `with ${fixed(subgraphCores)} subgraph cores per gateway core behind them (plus PostgreSQL)`,
  );
}
