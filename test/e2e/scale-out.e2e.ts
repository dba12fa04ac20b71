/**
 * Three replicas each of the candles, indicators and predictor processors over 6-partition
 * topics and six pairs (half a day of real BTC/USD and ETH/USD minutes, and four more pairs
 * replaying the BTC/USD half day), each pair served by a model registered in MLflow.
 *
 * - A candles replica is frozen (SIGSTOP) inside a transaction, held open by the
 *   KAFKA_FAULT_HOLD_TRANSACTION_MS fault injection, until another replica has taken its
 *   task; resumed, its commit must be refused: the new owner's producer fenced it.
 * - One replica of each processor is killed with SIGKILL while its input flows, then one of
 *   each is added back.
 *
 * Every task that moves is fenced and restored by its new owner, so the stored candles,
 * indicators and predictions must equal a single replica's run of the same input (SQL EXCEPT
 * both ways), Kafka must hold each candle and each prediction once, and no transaction of the
 * run may be left open.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import type { MarketEvent } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { createBus, type ProcessorName } from '../../streams/runtime.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import { rowCounts, tableDifferences } from '../support/compare.ts';
import { BTC_CANDLES, ETH_CANDLES, FULL_DAY } from '../support/data.ts';
import { groupState, inputStillFlowing } from '../support/kafka-lag.ts';
import { openTransactions } from '../support/kafka-transactions.ts';
import { loadDay, publishEvents } from '../support/market-data.ts';
import { mlflowRegistry, mlflowTrackingUri, syntheticMarket, trainOneMinute } from '../support/models.ts';
import { startProcessors } from '../support/pipeline.ts';
import { kill9, startService, stopGracefully, type Service } from '../support/processes.ts';
import { spreadPairs } from '../support/spread-pairs.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

const PARTITIONS = 6;
const RUN = Date.now().toString(36).toUpperCase().slice(-4);
/**
 * Names of this run's own, so the models registered for them are this run's, one per
 * partition: six names picked at random left every partition of one replica empty about one
 * run in eleven (seen in CI: the replica meant to hold a transaction open never had one).
 */
const PAIRS = spreadPairs(PARTITIONS, PARTITIONS, (i) => `S${i}X${RUN}/USD`).pairs;
const HALF_DAY = { from: FULL_DAY.from, to: FULL_DAY.from + 12 * 3_600_000 };
const SCALED = ['candles', 'indicators', 'predictor'] as const;
type Scaled = (typeof SCALED)[number];
const INPUT_OF: Record<Scaled, string> = {
  candles: TOPICS.marketEvents.name,
  indicators: TOPICS.candles.name,
  predictor: TOPICS.indicators.name,
};
/** The zombie's transaction stays open this long: past its freeze, the takeover and its resumption. */
const HOLD_MS = 45_000;
const ENV = {
  PAIRS: PAIRS.join(','),
  PREDICTION_HORIZONS: '1',
  // A frozen or killed replica's tasks move once the broker has given up on it.
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
};
const STORED = ['candles', 'indicators', 'predictions'] as const;

async function halfDay(file: string, pair: string): Promise<MarketEvent[]> {
  const events: MarketEvent[] = [];
  await replayCandles(await loadDay(file, HALF_DAY), async (batch) => void events.push(...batch), {
    pair,
    speed: 0,
  });
  return events;
}

/** Every pair's half day, interleaved by event time (stable within a pair), as a live feed would arrive. */
async function allEvents(): Promise<MarketEvent[]> {
  const days = await Promise.all(PAIRS.map((pair, i) => halfDay(i === 1 ? ETH_CANDLES : BTC_CANDLES, pair)));
  return days
    .flatMap((events, day) => events.map((event, index) => ({ event, day, index })))
    .sort((a, b) => a.event.time - b.event.time || a.day - b.day || a.index - b.index)
    .map(({ event }) => event);
}

/** The scaled processors' topics with PARTITIONS partitions, before a processor creates them with the declared 3. */
async function createTopics(iso: Isolation): Promise<void> {
  const admin = new Kafka({
    brokers: requireServices().brokers,
    clientId: 'scale-out',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [TOPICS.marketEvents, TOPICS.candles, TOPICS.indicators].map((t) => ({
        topic: `${iso.id}.${t.name}`,
        numPartitions: PARTITIONS,
        replicationFactor: -1,
      })),
    });
  } finally {
    await admin.disconnect();
  }
}

/** Row counts of what a run has stored. */
async function stored(iso: Isolation): Promise<string> {
  const { rows } = await iso.pool.query<Record<(typeof STORED)[number], number>>(
    `SELECT ${STORED.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')}`,
  );
  return JSON.stringify(rows[0]);
}

/** How often each record of `topic` (by `identity`) is on Kafka, read committed, once `expected` were read. */
async function onTopic(
  iso: Isolation,
  topic: string,
  expected: number,
  identity: (value: Record<string, unknown>) => string,
): Promise<Map<string, number>> {
  const kafka = new Kafka({
    brokers: requireServices().brokers,
    clientId: 'scale-out-audit',
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: `${iso.id}.audit-${topic}`, readUncommitted: false });
  const seen = new Map<string, number>();
  let total = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: `${iso.id}.${topic}`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = identity(JSON.parse(message.value!.toString()) as Record<string, unknown>);
        seen.set(key, (seen.get(key) ?? 0) + 1);
        total += 1;
      },
    });
    await waitFor(`the audit consumer to read ${topic}`, async () => total >= expected, 120_000);
    // Anything a broken exactly-once published twice arrives within moments of the rest.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

const HOLDING = 'fault injection: holding a transaction open';
const OPENED = 'tasks opened, state restored from changelog';
const CLOSED = 'task closed, its state dropped';
/** The log messages the test acts on. */
const WATCHED = new Set([HOLDING, OPENED, CLOSED]);
type LogLine = Record<string, unknown>;

/**
 * Every WATCHED line `service` logs, parsed as it prints it (`output()` keeps only the end of
 * a replica's chatty output).
 */
function watchLog(service: Service): LogLine[] {
  const lines: LogLine[] = [];
  let partial = '';
  // For a post-mortem: every replica's whole output, one file each.
  const keep = process.env['SCALE_OUT_LOG_DIR'];
  if (keep) service.child.stdout?.pipe(createWriteStream(join(keep, `${service.name}.log`)));
  service.child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      if (!line.startsWith('{')) continue;
      const parsed = JSON.parse(line) as LogLine;
      if (WATCHED.has(String(parsed['msg']))) lines.push(parsed);
    }
  });
  return lines;
}

const waitUntilSettled = async (iso: Isolation, what: string, done: (now: string) => boolean): Promise<string> => {
  let last = '';
  await waitFor(
    what,
    async () => {
      const now = await stored(iso);
      const settled = now === last && done(now);
      last = now;
      return settled;
    },
    600_000,
    3_000,
  );
  return last;
};

describe('candles, indicators and predictor scaled out to three replicas each', () => {
  let events: MarketEvent[];
  let single: Isolation;
  let scaled: Isolation;
  let reference: string;
  let heldTask: number | undefined;
  let fencedOnResume = false;
  const killedMidStream: Partial<Record<Scaled, boolean>> = {};
  const exits: Record<string, unknown> = {};
  let openAtEnd: string[] = [];
  // What runs, at this scope so that `after` stops it when `before` failed half way.
  const buses: Bus[] = [];
  const inProcess: RunningTask[] = [];
  const replicas = new Map<string, Service>();
  const logs = new Map<string, LogLine[]>();

  before(async () => {
    const registry = mlflowRegistry();
    for (const [i, pair] of PAIRS.entries()) {
      const model = await trainOneMinute(registry, pair, syntheticMarket(70 + i, 0).history);
      assert.equal(model.alias, 'champion', model.reason);
    }
    events = await allEvents();
    const env = { ...ENV, MLFLOW_TRACKING_URI: mlflowTrackingUri() };

    // One replica of each, uninterrupted: the reference.
    single = await isolate('single', env);
    await createTopics(single);
    const singleBus = await createBus(single.config, testLogger);
    buses.push(singleBus);
    const singleTasks = await startProcessors(single, singleBus, [
      ...SCALED,
      'store-writer',
      'predictions-writer',
    ] satisfies ProcessorName[]);
    inProcess.push(...singleTasks);
    await publishEvents(singleBus, events);
    reference = await waitUntilSettled(
      single,
      'the single replicas to settle',
      (now) => JSON.parse(now).predictions > 0,
    );
    for (const task of singleTasks.reverse()) await task.stop();

    scaled = await isolate('scaled', env);
    await createTopics(scaled);
    const bus: Bus = await createBus(scaled.config, testLogger);
    buses.push(bus);
    // The writers run in this process, on a bus of their own with the default session timeout:
    // the replicas' 6 s is for the replicas, and this process (publishing, probing lag every
    // 20 ms) once missed it, and its predictions writer left its group for good.
    const writersBus: Bus = await createBus(
      { ...scaled.config, KAFKA_SESSION_TIMEOUT_MS: 30_000, KAFKA_HEARTBEAT_INTERVAL_MS: 3_000 },
      testLogger,
    );
    buses.push(writersBus);
    const writers: RunningTask[] = await startProcessors(scaled, writersBus, ['store-writer', 'predictions-writer']);
    inProcess.push(...writers);
    const start = (name: Scaled, index: number, extra: Record<string, string> = {}): void => {
      const id = `${name}-${index}`;
      // At info: the test follows the tasks being opened.
      const service = startService(id, ['stream', name], { ...scaled.env, LOG_LEVEL: 'info', ...extra });
      replicas.set(id, service);
      logs.set(id, watchLog(service));
    };
    for (const name of SCALED)
      for (const index of [0, 1, 2])
        start(
          name,
          index,
          name === 'candles' && index === 1 ? { KAFKA_FAULT_HOLD_TRANSACTION_MS: String(HOLD_MS) } : {},
        );
    for (const name of SCALED)
      await waitFor(
        `three ${name} replicas in a stable group`,
        async () => {
          const group = await groupState(scaled, name);
          return group.state === 'Stable' && group.members === 3;
        },
        120_000,
        200,
      );

    const quarter = Math.ceil(events.length / 4);
    await publishEvents(bus, events.slice(0, quarter));

    // The zombie: frozen inside a transaction until the task's next owner has opened it (which
    // fences the zombie's producer and aborts that transaction), then resumed to commit it.
    const zombie = replicas.get('candles-1')!;
    const zombieLog = logs.get('candles-1')!;
    await waitFor(
      'candles-1 to hold a transaction open',
      async () => zombieLog.some((l) => l['msg'] === HOLDING),
      120_000,
      20,
    );
    zombie.child.kill('SIGSTOP');
    heldTask = zombieLog.find((l) => l['msg'] === HOLDING)!['task'] as number;
    const others = ['candles-0', 'candles-2'];
    const openedBefore = others.map((id) => logs.get(id)!.length);
    await waitFor(
      `another candles replica to open task ${heldTask}`,
      async () =>
        others.some((id, i) =>
          logs
            .get(id)!
            .slice(openedBefore[i])
            .some((l) => l['msg'] === OPENED && (l['tasks'] as number[]).includes(heldTask!)),
        ),
      60_000,
      200,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\n${others.map((id) => `--- ${id}:\n${replicas.get(id)!.output().slice(-6_000)}`).join('\n')}`,
      );
    });
    zombie.child.kill('SIGCONT');
    await waitFor(
      'the resumed zombie to give up its fenced task',
      async () => zombieLog.some((l) => l['msg'] === CLOSED && l['reason'] === 'fenced'),
      HOLD_MS + 30_000,
      200,
    ).then(
      () => (fencedOnResume = true),
      () => undefined,
    );

    // One replica of each killed at the same moment (a node lost) as the next slice arrives.
    // A killed replica's partitions stall until the others take its tasks over, while its
    // upstream goes on producing: each processor must then have input piling up for it.
    // The kill lands while the slice is still being published: the market events, the candles'
    // input, otherwise arrive in one burst that a fast machine's candles replicas may have
    // consumed before the kill (seen in CI), and the killed candles replica then died idle.
    const secondQuarter = events.slice(quarter, 2 * quarter);
    const lead = Math.ceil(secondQuarter.length / 4);
    await publishEvents(bus, secondQuarter.slice(0, lead));
    const victims = { candles: 'candles-2', indicators: 'indicators-0', predictor: 'predictor-0' } as const;
    const rest = publishEvents(bus, secondQuarter.slice(lead));
    await Promise.all(SCALED.map((name) => kill9(replicas.get(victims[name])!)));
    await rest;
    for (const name of SCALED) replicas.delete(victims[name]);
    await Promise.all(
      SCALED.map((name) =>
        waitFor(`${name} input to pile up`, () => inputStillFlowing(scaled, name, INPUT_OF[name]), 30_000, 20).then(
          () => (killedMidStream[name] = true),
          () => (killedMidStream[name] = false),
        ),
      ),
    );
    await publishEvents(bus, events.slice(2 * quarter, 3 * quarter));
    // One of each added back: tasks move again, from live replicas this time.
    for (const name of SCALED) start(name, 3);
    await publishEvents(bus, events.slice(3 * quarter));
    await waitFor(
      'the scaled run to store what the single one did',
      async () => (await stored(scaled)) === reference,
      600_000,
      1_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}: ${await stored(scaled)}, single ${reference}`);
    });
    // Room for a duplicate that a broken exactly-once would produce.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    for (const [id, service] of replicas) exits[id] = await stopGracefully(service);
    for (const task of writers.reverse()) await task.stop();
    openAtEnd = await openTransactions(scaled.env['TICKCAST_GROUP_PREFIX'] ?? scaled.id);
  });

  after(async () => {
    // Stopping is idempotent: after a complete run these are already stopped.
    for (const service of replicas.values()) await stopGracefully(service);
    for (const task of inProcess.reverse()) await task.stop();
    for (const bus of buses) await bus.close();
    await single?.close();
    await scaled?.close();
  });

  it('fenced the replica frozen inside a transaction once another replica took its task', () => {
    assert.equal(typeof heldTask, 'number');
    assert.equal(fencedOnResume, true);
  });

  it('killed a replica of each processor while its input was still flowing', () => {
    assert.deepEqual(killedMidStream, { candles: true, indicators: true, predictor: true });
  });

  it('every live replica shuts down cleanly on SIGTERM', () => {
    const clean = Object.fromEntries(Object.keys(exits).map((id) => [id, 0]));
    assert.equal(Object.keys(exits).length, 3 * 3);
    assert.deepEqual(exits, clean);
  });

  for (const table of STORED) {
    it(`stores the same ${table} as one replica of each (SQL EXCEPT both ways)`, async () => {
      const ignore = table === 'predictions' ? [] : ['written_at'];
      assert.deepEqual(await tableDifferences(single.id, scaled.id, table, { ignore }), []);
      const counts = await rowCounts(single.id, scaled.id, table);
      assert.ok(counts.a > 0, `${table} has rows`);
      assert.equal(counts.b, counts.a);
    });
  }

  it('published every candle and every prediction exactly once to Kafka', async () => {
    const counts = JSON.parse(reference) as Record<(typeof STORED)[number], number>;
    const candles = await onTopic(
      scaled,
      TOPICS.candles.name,
      counts.candles,
      (c) => `${String(c['pair'])}|${String(c['interval'])}|${String(c['openTime'])}`,
    );
    const predictions = await onTopic(scaled, TOPICS.predictions.name, counts.predictions, (p) => String(p['id']));
    for (const [name, seen, expected] of [
      ['candles', candles, counts.candles],
      ['predictions', predictions, counts.predictions],
    ] as const) {
      const twice = [...seen].filter(([, n]) => n > 1);
      assert.deepEqual(twice.slice(0, 10), [], `${twice.length} ${name} published more than once`);
      assert.equal(seen.size, expected, name);
    }
    for (const pair of PAIRS)
      assert.ok(
        [...candles.keys()].some((k) => k.startsWith(`${pair}|`)),
        pair,
      );
  });

  it('left no transaction of the run open', () => {
    assert.deepEqual(openAtEnd, []);
  });
});
