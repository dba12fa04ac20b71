import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../bus/memory.ts';
import type { InboundRecord, OutboundRecord } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import { metricValue } from '../../lib/metrics.ts';
import { TickcastError } from '../../lib/errors.ts';
import { candleSchema, deadLetterSchema, type Candle, type DeadLetter, type MarketEvent } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { candlesProcessor, type CandlesProcessorOptions } from './processor.ts';
import { initialCandleState } from './window-state.ts';
import { loadCandleCsv } from '../../lib/candle-csv.ts';
import { replayCandles } from '../sources/candle-replay.ts';
import { BTC_CANDLES, requireData } from '../../test/support/data.ts';
import { badInputRecords, EXPECTED_MINUTES, PAIR, runBadInput, T0 } from '../../test/support/bad-input.ts';

const OPTIONS: CandlesProcessorOptions = {
  intervals: ['1m', '5m'],
  allowedLatenessMs: 2_000,
  maxGapFillMinutes: 1_440,
  maxAheadMs: 300_000,
  maxJumpMs: 300_000,
  liveUpdates: false,
};
const MINUTE = 60_000;
const DAY = 1_440 * MINUTE;

let nextId = 1_000;
const trade = (time: number, price: number, source: MarketEvent['source'] = 'replay-candles'): MarketEvent => ({
  v: 1,
  kind: 'trade',
  pair: PAIR,
  tradeId: nextId++,
  price,
  qty: 0.25,
  side: 'sell',
  time,
  source,
});
const clock = (time: number, source: MarketEvent['source'] = 'replay-candles'): MarketEvent => ({
  v: 1,
  kind: 'clock',
  pair: PAIR,
  time,
  source,
});
const record = (value: unknown): OutboundRecord => ({ topic: TOPICS.marketEvents.name, key: PAIR, value });

/** Ten minutes of a 2023 replay: two trades a minute, a quiet minute closed by its clock, a final clock. */
function goodReplay(): MarketEvent[] {
  const events: MarketEvent[] = [];
  for (let m = 0; m < 10; m++) {
    if (m === 6) events.push(clock(T0 + 7 * MINUTE));
    else events.push(trade(T0 + m * MINUTE + 10_000, 100 + m), trade(T0 + m * MINUTE + 40_000, 101 + m));
  }
  events.push(clock(T0 + 11 * MINUTE));
  return events;
}

/** Runs `events` through the processor on the in-process bus; returns its candles and dead letters. */
async function run(
  events: readonly unknown[],
  options: CandlesProcessorOptions = OPTIONS,
): Promise<{ candles: Candle[]; deadLetters: DeadLetter[] }> {
  const bus = new MemoryBus();
  const task = await bus.runStateful(candlesProcessor(options));
  const candles: Candle[] = [];
  const deadLetters: DeadLetter[] = [];
  let last = Date.now();
  const consumer = await bus.consume({
    groupId: 'test',
    topics: [TOPICS.candles.name, TOPICS.deadLetters.name],
    fromBeginning: true,
    handler: async (records: readonly InboundRecord[]) => {
      for (const r of records) {
        if (r.topic === TOPICS.candles.name) candles.push(decodeValue(candleSchema, r));
        else deadLetters.push(decodeValue(deadLetterSchema, r));
      }
      last = Date.now();
    },
  });
  await bus.publish(events.map(record));
  // The in-process bus delivers within milliseconds; stop once nothing new arrived for a while.
  while (Date.now() - last < 300) await new Promise((resolve) => setTimeout(resolve, 50));
  await consumer.stop();
  await task.stop();
  await bus.close();
  return { candles, deadLetters };
}

describe('candles processor on the in-process bus', () => {
  it('dead-letters bad records, drops duplicates, applies reordering, and loses no good trade', async () => {
    const bus = new MemoryBus();
    const duplicatesBefore = await metricValue('tickcast_candles_trades_total', { pair: PAIR, outcome: 'duplicate' });
    const task = await bus.runStateful(candlesProcessor(OPTIONS));
    const outcome = await runBadInput(bus, 'test', 5_000);
    await task.stop();
    await bus.close();

    assert.deepEqual(outcome.minutes, EXPECTED_MINUTES);
    assert.deepEqual(outcome.deadLetters.map((d) => d.code).sort(), badInputRecords().expectedDeadLetters.sort());
    const late = outcome.deadLetters.find((d) => d.code === 'LATE_TRADE');
    assert.match(late?.message ?? '', /trade 10 .* arrived after its minute closed/);
    assert.ok(
      outcome.deadLetters.every((d) => d.value !== null && d.processor === 'candles'),
      'the raw record is kept',
    );
    assert.match(outcome.deadLetters.find((d) => d.message.includes('price'))?.message ?? '', /price/);
    const duplicates =
      (await metricValue('tickcast_candles_trades_total', { pair: PAIR, outcome: 'duplicate' })) - duplicatesBefore;
    assert.equal(duplicates, 2);
  });

  it('dead-letters trades and clocks 30 days ahead, in year 2100 or before 2009, and emits the same candles as without them', async () => {
    const good = goodReplay();
    const year2100 = Date.UTC(2100, 0, 1);
    const bad = [
      trade(T0 + 30 * DAY, 500),
      trade(year2100, 600),
      clock(T0 + 30 * DAY),
      clock(year2100),
      trade(1_000, 700),
      // A safe integer to the schema, but past the last date JavaScript can represent (8.64e15).
      trade(8.7e15, 800),
    ];
    const mixed = [...good.slice(0, 5), ...bad.slice(0, 3), ...good.slice(5, 12), ...bad.slice(3), ...good.slice(12)];
    const metric = (reason: string, kind: string) =>
      metricValue('tickcast_candles_events_rejected_total', { pair: PAIR, kind, reason });
    const before = {
      watermark: await metric('ahead_of_event_time', 'trade'),
      wall: await metric('ahead_of_wall_clock', 'trade'),
      clockWall: await metric('ahead_of_wall_clock', 'clock'),
      clockWatermark: await metric('ahead_of_event_time', 'clock'),
      old: await metric('before_2009', 'trade'),
    };

    const clean = await run(good);
    const dirty = await run(mixed);

    assert.equal(clean.deadLetters.length, 0);
    assert.equal(clean.candles.filter((c) => c.interval === '1m').length, 10);
    assert.deepEqual(dirty.candles, clean.candles, 'the good trades give exactly the same candles');
    assert.deepEqual(
      dirty.deadLetters.map((d) => [d.code, JSON.parse(d.value ?? 'null').time]),
      [
        ['FUTURE_EVENT', T0 + 30 * DAY],
        ['FUTURE_EVENT', year2100],
        ['FUTURE_EVENT', T0 + 30 * DAY],
        ['FUTURE_EVENT', year2100],
        ['IMPLAUSIBLE_TIME', 1_000],
        ['FUTURE_EVENT', 8.7e15],
      ],
    );
    assert.match(dirty.deadLetters[0]?.message ?? '', /more than 300000 ms ahead of the pair's event time/);
    assert.match(
      dirty.deadLetters[1]?.message ?? '',
      /2100-01-01T00:00:00.000Z is more than 300000 ms ahead of the wall clock/,
    );
    assert.deepEqual(
      {
        watermark: (await metric('ahead_of_event_time', 'trade')) - before.watermark,
        wall: (await metric('ahead_of_wall_clock', 'trade')) - before.wall,
        clockWall: (await metric('ahead_of_wall_clock', 'clock')) - before.clockWall,
        clockWatermark: (await metric('ahead_of_event_time', 'clock')) - before.clockWatermark,
        old: (await metric('before_2009', 'trade')) - before.old,
      },
      { watermark: 1, wall: 2, clockWall: 1, clockWatermark: 1, old: 1 },
    );
  });

  it('leaves the state untouched by a rejected event', () => {
    const processor = candlesProcessor(OPTIONS);
    const state = initialCandleState(PAIR);
    const apply = (event: MarketEvent) =>
      processor.process(state, {
        topic: TOPICS.marketEvents.name,
        partition: 0,
        offset: '0',
        key: PAIR,
        value: Buffer.from(JSON.stringify(event)),
      });
    apply(trade(T0 + 1_000, 100));
    const snapshot = structuredClone(state);
    assert.throws(
      () => apply(trade(T0 + 30 * DAY, 500)),
      (e: unknown) => e instanceof TickcastError && e.code === 'FUTURE_EVENT',
    );
    assert.throws(
      () => apply(clock(T0 + 6 * MINUTE)),
      (e: unknown) => e instanceof TickcastError && e.code === 'FUTURE_EVENT',
    );
    assert.deepEqual(state, snapshot);
  });

  it('accepts a replay stepping through a long quiet period with clocks, and fills it flat', async () => {
    // Three hours without trades, each minute closed by a clock: every step is one minute.
    const events: MarketEvent[] = [trade(T0 + 5_000, 100)];
    for (let m = 1; m <= 180; m++) events.push(clock(T0 + m * MINUTE));
    events.push(trade(T0 + 180 * MINUTE + 5_000, 120), clock(T0 + 182 * MINUTE));
    const { candles, deadLetters } = await run(events);
    assert.deepEqual(deadLetters, []);
    const minutes = candles.filter((c) => c.interval === '1m');
    assert.equal(minutes.length, 181);
    assert.equal(minutes.filter((c) => c.flat).length, 179);
    assert.equal(minutes.at(-1)?.close, 120);
  });

  it('keeps a backfill of the past working: late or duplicate as before, never "future"', async () => {
    const replay = goodReplay();
    // A backfill starting days before the processor's event time, then one continuing after it.
    const backfill = [trade(T0 - 3 * DAY, 90), clock(T0 - 3 * DAY + MINUTE), replay[0]!];
    const after = [trade(T0 + 11 * MINUTE + 5_000, 130), clock(T0 + 13 * MINUTE)];
    const { candles, deadLetters } = await run([...replay, ...backfill, ...after]);
    assert.deepEqual(
      deadLetters.map((d) => d.code),
      ['LATE_TRADE'],
      'the old trade is late; its clock is harmless and the replayed trade a duplicate',
    );
    assert.equal(candles.filter((c) => c.interval === '1m').at(-1)?.close, 130);
  });

  it('lets a Kraken REST backfill start anywhere after the event time: its range was chosen explicitly', async () => {
    const replay = goodReplay();
    const backfillStart = T0 + 2 * DAY;
    const { candles, deadLetters } = await run([
      ...replay,
      trade(backfillStart + 5_000, 140, 'kraken-rest'),
      trade(backfillStart + MINUTE + 5_000, 141, 'kraken-rest'),
      clock(backfillStart + 2 * MINUTE + 5_000, 'kraken-rest'),
    ]);
    assert.deepEqual(deadLetters, []);
    const minutes = candles.filter((c) => c.interval === '1m');
    assert.deepEqual(
      minutes.slice(-2).map((c) => [c.openTime, c.close, c.flat]),
      [
        [backfillStart, 140, false],
        [backfillStart + MINUTE, 141, false],
      ],
    );
  });

  it('lets a live feed resume after an outage of days, with a bounded fill', async () => {
    const now = T0 + 3 * DAY;
    const live = { ...OPTIONS, maxGapFillMinutes: 60, now: () => now };
    const skippedBefore = await metricValue('tickcast_candles_gap_minutes_skipped_total', { pair: PAIR });
    const { candles, deadLetters } = await run(
      [
        trade(T0 + 5_000, 100, 'kraken-ws'),
        trade(T0 + MINUTE + 5_000, 101, 'kraken-ws'),
        // The feed was down for three days: its next trade is near the wall clock.
        trade(now - 10_000, 110, 'kraken-ws'),
        clock(now, 'kraken-ws'),
      ],
      live,
    );
    assert.deepEqual(deadLetters, []);
    const minutes = candles.filter((c) => c.interval === '1m');
    assert.equal(minutes.length, 2 + 60, 'two traded minutes and 60 flat ones, then the rest of the gap skipped');
    const skipped = (await metricValue('tickcast_candles_gap_minutes_skipped_total', { pair: PAIR })) - skippedBefore;
    assert.equal(skipped, 3 * 1_440 - 2 - 60 - 1);
    // The same jump from a replay source is not live: rejected.
    const replayed = await run([trade(T0 + 5_000, 100), trade(now - 10_000, 110), clock(T0 + 2 * MINUTE)], live);
    assert.deepEqual(
      replayed.deadLetters.map((d) => d.code),
      ['FUTURE_EVENT'],
    );
  });

  it("replays the real file across its 2,903 missing minutes: the replay's clocks step the event time through", async () => {
    // 2023-04-11 02:59 to 2023-04-13 03:23 is missing from the Kraken file (collector outage).
    const rows = (await loadCandleCsv(requireData(BTC_CANDLES))).filter(
      (r) => r.time >= Date.UTC(2023, 3, 11, 2, 0) && r.time < Date.UTC(2023, 3, 13, 4, 0),
    );
    const processor = candlesProcessor(OPTIONS);
    const state = initialCandleState(PAIR);
    const minutes: Candle[] = [];
    let offset = 0;
    await replayCandles(
      rows,
      async (events) => {
        for (const event of events) {
          const value = Buffer.from(JSON.stringify(event));
          const key = PAIR;
          const out = processor.process(state, {
            topic: TOPICS.marketEvents.name,
            partition: 0,
            offset: String(offset++),
            key,
            value,
          });
          for (const o of await out) if ((o.value as Candle).interval === '1m') minutes.push(o.value as Candle);
        }
      },
      { pair: PAIR, speed: 0 },
    );
    const expected = (Date.UTC(2023, 3, 13, 4, 0) - Date.UTC(2023, 3, 11, 2, 0)) / MINUTE;
    assert.equal(minutes.length, expected, 'every minute closed, the missing ones flat');
    assert.equal(minutes.filter((c) => c.flat && c.openTime >= Date.UTC(2023, 3, 11, 3, 0)).length >= 2_903, true);
  });
});
