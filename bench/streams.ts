/**
 * Trades/s through trades -> candles -> indicators over real Kafka, next to the raw
 * consume rate of the same topic by a bare kafkajs consumer, measured in the same run.
 *
 * Both clocks start when the consumer starts (group join included) and stop at the
 * last record: the bare consumer's last trade, the pipeline's last indicator set.
 *
 * BENCH_PROFILE=DIR writes a CPU profile of the pipeline phase alone (start of the
 * processors to the last indicator set) to DIR/streams-pipeline.cpuprofile: a whole-process
 * `--cpu-prof` mostly shows the CSV load, the publish and the bare consumer.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import { TOPICS } from '../schema/topics.ts';
import type { MarketEvent } from '../schema/events.ts';
import { createBus, startProcessor } from '../streams/runtime.ts';
import { loadCandleCsv } from '../lib/candle-csv.ts';
import { replayCandles } from '../streams/sources/candle-replay.ts';
import { BTC_CANDLES, requireData } from '../test/support/data.ts';
import { deleteTopics } from '../test/support/services.ts';
import { applyClock, applyTrade, type CandleConfig } from '../streams/candles/aggregator.ts';
import { initialCandleState, type CandleState } from '../streams/candles/window-state.ts';

const DAYS = Number(process.env['BENCH_DAYS'] ?? 7);
const PAIR = 'BTC/USD';

export async function run(): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS'];
  if (!brokers)
    throw new Error(
      'the streams benchmark needs Kafka: run `scripts/services up` and `eval "$(scripts/services env)"`',
    );
  const id = `bench${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const config = loadConfig({
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC_PREFIX: `${id}.`,
    TICKCAST_GROUP_PREFIX: `${id}.`,
    CANDLE_LIVE_UPDATES: 'false',
  });
  const logger = createLogger('warn');
  const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'bench', logLevel: logLevel.NOTHING });

  const rows = await loadCandleCsv(requireData(BTC_CANDLES));
  const start = rows[0]!.time;
  const slice = rows.filter((r) => r.time < start + DAYS * 86_400_000);
  const events: MarketEvent[] = [];
  await replayCandles(slice, async (batch) => void events.push(...batch), { pair: PAIR, speed: 0 });
  const trades = events.filter((e) => e.kind === 'trade').length;

  const bus = await createBus(config, logger);
  for (let i = 0; i < events.length; i += 5_000) {
    await bus.publish(
      events.slice(i, i + 5_000).map((value) => ({ topic: TOPICS.marketEvents.name, key: PAIR, value })),
    );
  }

  // Bare consumer: the ceiling for any processor reading this topic.
  const bareCpu = process.cpuUsage();
  const bareSeconds = await timeUntil(kafka, `${id}.bare`, `${id}.${TOPICS.marketEvents.name}`, events.length);

  const bareCpuSeconds = cpuSeconds(bareCpu);

  // The pipeline: candles and indicators processors, exactly-once, until the last indicator set.
  const expectedSets = expectedIndicatorSets(events, {
    intervals: config.CANDLE_INTERVALS,
    allowedLatenessMs: config.CANDLE_ALLOWED_LATENESS_MS,
    maxGapFillMinutes: config.CANDLE_MAX_GAP_FILL_MINUTES,
  });
  const profile = await startProfile(process.env['BENCH_PROFILE']);
  const pipelineCpu = process.cpuUsage();
  const pipelineStarted = performance.now();
  const audit = countRecords(kafka, `${id}.audit`, `${id}.${TOPICS.indicators.name}`, expectedSets);
  // Started together, as their own `tickcast stream` processes (one deployment each) start.
  const [candles, indicators] = await Promise.all([
    startProcessor('candles', { config, logger, bus, database: undefined }),
    startProcessor('indicators', { config, logger, bus, database: undefined }),
  ]);
  const startedSeconds = (performance.now() - pipelineStarted) / 1000;
  await audit.done;
  const pipelineSeconds = (performance.now() - pipelineStarted) / 1000;
  const pipelineCpuSeconds = cpuSeconds(pipelineCpu);
  await profile?.();
  await candles.stop();
  await indicators.stop();
  await bus.close();
  await deleteTopics(brokers.split(','), `${id}.`);

  const bareRate = trades / bareSeconds;
  const pipelineRate = trades / pipelineSeconds;
  const line = (label: string, value: string): string => `  ${label.padEnd(46)} ${value}`;
  console.log(
    `streams: ${DAYS} days of real BTC/USD minutes replayed as ${trades.toLocaleString('en-US')} trades, Kafka at ${brokers}`,
  );
  console.log(line('bare consumer, same topic (trades/s)', Math.round(bareRate).toLocaleString('en-US')));
  console.log(line('trades -> candles -> indicators (trades/s)', Math.round(pipelineRate).toLocaleString('en-US')));
  console.log(
    line('ratio pipeline / bare consumer', pipelineRate / bareRate > 0 ? (pipelineRate / bareRate).toFixed(3) : 'n/a'),
  );
  console.log(line('wall time bare / pipeline (s)', `${bareSeconds.toFixed(2)} / ${pipelineSeconds.toFixed(2)}`));
  console.log(line('of which processors starting (s)', startedSeconds.toFixed(2)));
  // CPU time depends less on what else the host runs than wall time does.
  console.log(
    line(
      'process CPU per trade bare / pipeline (µs)',
      `${((bareCpuSeconds / trades) * 1e6).toFixed(1)} / ${((pipelineCpuSeconds / trades) * 1e6).toFixed(1)}`,
    ),
  );
}

/** User + system CPU seconds of this process since `since`. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1e6;
}

/** Starts the inspector's CPU profiler when `dir` is set; the returned function writes the profile there. */
async function startProfile(dir: string | undefined): Promise<(() => Promise<void>) | undefined> {
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'streams-pipeline.cpuprofile');
    await writeFile(file, JSON.stringify(profile));
    console.log(`  pipeline CPU profile: ${file}`);
  };
}

/**
 * One indicator set per closed candle: count the candles with the (pure) aggregator itself,
 * one state per pair as the candles processor keeps them.
 */
export function expectedIndicatorSets(events: readonly MarketEvent[], config: CandleConfig): number {
  const states = new Map<string, CandleState>();
  let candles = 0;
  for (const event of events) {
    let state = states.get(event.pair);
    if (!state) states.set(event.pair, (state = initialCandleState(event.pair)));
    candles += (event.kind === 'trade' ? applyTrade(state, event, config) : applyClock(state, event, config)).closed
      .length;
  }
  return candles;
}

async function timeUntil(kafka: Kafka, groupId: string, topic: string, expected: number): Promise<number> {
  const started = performance.now();
  await countRecords(kafka, groupId, topic, expected).done;
  return (performance.now() - started) / 1000;
}

function countRecords(kafka: Kafka, groupId: string, topic: string, expected: number): { done: Promise<void> } {
  const consumer = kafka.consumer({ groupId });
  let seen = 0;
  const done = (async () => {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            seen += batch.messages.length;
            if (seen >= expected) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
  })();
  return { done };
}
