/**
 * Event-time sanity on real Kafka and PostgreSQL: a real day of Kraken BTC/USD replayed
 * with one trade stamped 30 days ahead and one stamped in year 2100 mixed in. Both are
 * dead-lettered as FUTURE_EVENT, and the candles stored afterwards are those of the same
 * day without them (on main the first emitted 43,199 flat minutes and made the rest of the
 * day late; the second never finished).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deadLetterSchema, type DeadLetter, type MarketEvent, type Trade } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { decodeValue } from '../../streams/bus/codec.ts';
import { createBus } from '../../streams/runtime.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import { BTC_CANDLES, FULL_DAY } from '../support/data.ts';
import { countRows, loadDay, loadInputMinutes, minuteMismatches, rollupMismatches } from '../support/market-data.ts';
import { startProcessors } from '../support/pipeline.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const PAIR = 'BTC/USD';
const EXPECTED = { '1m': 1440, '5m': 288, '15m': 96, '1h': 24 } as const;
const THIRTY_DAYS_AHEAD = FULL_DAY.from + 8 * 3_600_000 + 30 * 86_400_000;
const YEAR_2100 = Date.UTC(2100, 0, 1);

/** A trade the replay could have produced, but mis-stamped. */
function misstamped(time: number, tradeId: number): Trade {
  return {
    v: 1,
    kind: 'trade',
    pair: PAIR,
    tradeId,
    price: 28_000,
    qty: 0.5,
    side: 'buy',
    time,
    source: 'replay-candles',
  };
}

describe('implausible trade times in a real replay on Kafka', () => {
  let iso: Isolation;
  let bus: Bus;
  let tasks: RunningTask[] = [];
  const deadLetters: DeadLetter[] = [];
  let deadLetterConsumer: RunningTask | undefined;

  before(async () => {
    iso = await isolate('eventtime', { CANDLE_LIVE_UPDATES: 'false' });
    bus = await createBus(iso.config, testLogger);
    tasks = await startProcessors(iso, bus, ['candles', 'store-writer']);
    deadLetterConsumer = await bus.consume({
      groupId: 'audit',
      topics: [TOPICS.deadLetters.name],
      fromBeginning: true,
      handler: async (records) => {
        for (const record of records) deadLetters.push(decodeValue(deadLetterSchema, record));
      },
    });
    const rows = await loadDay(BTC_CANDLES, FULL_DAY);
    assert.equal(rows.length, 1440);
    await loadInputMinutes(iso.pool, rows);

    const events: MarketEvent[] = [];
    await replayCandles(rows, async (batch) => void events.push(...batch), { pair: PAIR, speed: 0 });
    // Mixed in a third and two thirds of the way through the day, with ids the replay does not use.
    const third = Math.floor(events.length / 3);
    events.splice(2 * third, 0, misstamped(YEAR_2100, 1));
    events.splice(third, 0, misstamped(THIRTY_DAYS_AHEAD, 2));
    for (let i = 0; i < events.length; i += 2_000) {
      await bus.publish(
        events.slice(i, i + 2_000).map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value })),
      );
    }
    await waitFor(
      'every candle of the day in PostgreSQL and both dead letters',
      async () => (await countRows(iso.pool, 'candles')) >= 1848 && deadLetters.length >= 2,
      240_000,
      500,
    );
    // Room for a wrongly emitted extra candle or dead letter to arrive.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  });

  after(async () => {
    await deadLetterConsumer?.stop();
    for (const task of tasks) await task.stop();
    await bus?.close();
    await iso?.close();
  });

  it('dead-letters both mis-stamped trades as FUTURE_EVENT, with the raw record, and nothing else', () => {
    assert.deepEqual(
      deadLetters.map((d) => [d.code, d.processor, d.topic, JSON.parse(d.value ?? 'null').time]),
      [
        ['FUTURE_EVENT', 'candles', TOPICS.marketEvents.name, THIRTY_DAYS_AHEAD],
        ['FUTURE_EVENT', 'candles', TOPICS.marketEvents.name, YEAR_2100],
      ],
    );
    assert.match(deadLetters[0]!.message, /ahead of the pair's event time/);
    assert.match(deadLetters[1]!.message, /ahead of the wall clock/);
  });

  it('stores exactly the candles of the day without them: one per window, none after the day', async () => {
    for (const [interval, expected] of Object.entries(EXPECTED)) {
      assert.equal(await countRows(iso.pool, 'candles', interval), expected, interval);
    }
    const { rows } = await iso.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM candles WHERE open_time >= $1',
      [new Date(FULL_DAY.to)],
    );
    assert.equal(rows[0]?.n, 0);
  });

  it('1m candles equal the input minutes, and 5m/15m/1h an SQL aggregation of them (EXCEPT both ways)', async () => {
    assert.deepEqual(await minuteMismatches(iso.pool, PAIR), []);
    for (const interval of ['5m', '15m', '1h']) {
      assert.deepEqual(await rollupMismatches(iso.pool, PAIR, interval), [], interval);
    }
  });
});
