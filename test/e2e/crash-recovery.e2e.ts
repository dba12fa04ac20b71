/**
 * SIGKILL the candles and indicators processors repeatedly while a real day replays
 * through Kafka; the stored output must be identical to an uninterrupted run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS } from '../../schema/topics.ts';
import type { MarketEvent } from '../../schema/events.ts';
import { createBus } from '../../streams/runtime.ts';
import { rowCounts, tableDifferences } from '../support/compare.ts';
import { countRows, dayEvents, publishEvents as publish } from '../support/market-data.ts';
import { inputStillFlowing } from '../support/kafka-lag.ts';
import { kill9, startService, stopGracefully, type Service } from '../support/processes.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

const TOTAL_ROWS = 1848; // 1440 + 288 + 96 + 24 candles, and as many indicator sets
const KILL_ROUNDS = 5;
const INPUT_OF = { candles: TOPICS.marketEvents.name, indicators: TOPICS.candles.name };

/** Runs the three processors as separate processes; returns the running services by name. */
function startPipeline(iso: Isolation): Map<string, Service> {
  return new Map(
    ['candles', 'indicators', 'store-writer'].map((name) => [name, startService(name, ['stream', name], iso.env)]),
  );
}

/** Stops each service with SIGTERM; returns how each exited (0 is a clean shutdown). */
async function stopAll(services: Map<string, Service>): Promise<Record<string, unknown>> {
  const exits: Record<string, unknown> = {};
  for (const [name, service] of services) exits[name] = await stopGracefully(service);
  return exits;
}

describe('crash recovery of the candles and indicators processors', () => {
  let events: MarketEvent[];
  let reference: Isolation;
  let crashed: Isolation;
  /** Kills that left the processor input to process, and kills that came after it had all. */
  const kills = { candles: 0, indicators: 0 };
  const late = { candles: 0, indicators: 0 };
  const shutdowns: Record<string, unknown>[] = [];

  before(async () => {
    events = await dayEvents();

    // The uninterrupted run.
    reference = await isolate('reference');
    const referenceBus = await createBus(reference.config, testLogger);
    await publish(referenceBus, events);
    const calm = startPipeline(reference);
    await waitFor(
      'the uninterrupted run to finish',
      async () => (await countRows(reference.pool, 'indicators')) >= TOTAL_ROWS,
      300_000,
    );
    shutdowns.push(await stopAll(calm));
    await referenceBus.close();

    // The same input, fed in slices, with both processors killed mid-stream every slice.
    crashed = await isolate('crashed');
    const bus = await createBus(crashed.config, testLogger);
    const services = startPipeline(crashed);
    const slice = Math.ceil(events.length / (KILL_ROUNDS + 1));
    const killAndRestart = async (name: 'candles' | 'indicators'): Promise<void> => {
      await kill9(services.get(name)!);
      // Dead now, its committed offsets cannot move: a kill counts only if input was left to process.
      if (await inputStillFlowing(crashed, name, INPUT_OF[name])) kills[name] += 1;
      else late[name] += 1;
      services.set(name, startService(name, ['stream', name], crashed.env));
    };
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const before = await countRows(crashed.pool, 'candles');
      await publish(bus, events.slice(round * slice, (round + 1) * slice));
      // The candles processor is killed at a random moment while it works through the slice.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 150)));
      await killAndRestart('candles');
      await waitFor(
        `progress in round ${round}`,
        async () => (await countRows(crashed.pool, 'candles')) > before,
        120_000,
        100,
      );
      // The indicators processor once some of the candles it is fed wait for it.
      await waitFor(
        'candles waiting',
        () => inputStillFlowing(crashed, 'indicators', INPUT_OF.indicators),
        5_000,
        20,
      ).catch(() => undefined);
      await killAndRestart('indicators');
    }
    await publish(bus, events.slice(KILL_ROUNDS * slice));
    await waitFor(
      'the crashed run to finish',
      async () => (await countRows(crashed.pool, 'indicators')) >= TOTAL_ROWS,
      300_000,
    );
    // Let any duplicate a broken exactly-once would produce arrive before comparing.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    shutdowns.push(await stopAll(services));
    await bus.close();
  });

  after(async () => {
    await reference?.close();
    await crashed?.close();
  });

  it('killed each processor at least three times while its input was still flowing', () => {
    assert.ok(kills.candles >= 3 && kills.indicators >= 3, JSON.stringify({ kills, late }));
  });

  it('every processor shuts down cleanly on SIGTERM', () => {
    const clean = { candles: 0, indicators: 0, 'store-writer': 0 };
    assert.deepEqual(shutdowns, [clean, clean]);
  });

  for (const table of ['candles', 'indicators'] as const) {
    it(`stores ${table} identical to the uninterrupted run`, async () => {
      assert.deepEqual(await tableDifferences(reference.id, crashed.id, table, { ignore: ['written_at'] }), []);
      assert.deepEqual(await rowCounts(reference.id, crashed.id, table), { a: TOTAL_ROWS, b: TOTAL_ROWS });
    });
  }

  it('published every candle exactly once to Kafka (no duplicates downstream)', async () => {
    // The store upserts would hide duplicates, so count the topic itself with a read-committed consumer.
    const { Kafka, logLevel } = await import('kafkajs');
    const { brokers } = requireServices();
    const kafka = new Kafka({ brokers, clientId: 'crash-test-audit', logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `${crashed.id}.audit`, readUncommitted: false });
    const seen = new Map<string, number>();
    let total = 0;
    await consumer.connect();
    await consumer.subscribe({ topic: `${crashed.id}.${TOPICS.candles.name}`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const candle = JSON.parse(message.value!.toString()) as { interval: string; openTime: number };
        const key = `${candle.interval}|${candle.openTime}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        total += 1;
      },
    });
    await waitFor('the audit consumer to read the candles topic', async () => total >= TOTAL_ROWS, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await consumer.disconnect();
    assert.equal(seen.size, TOTAL_ROWS);
    assert.equal(total, TOTAL_ROWS, 'a candle was published more than once');
  });
});
