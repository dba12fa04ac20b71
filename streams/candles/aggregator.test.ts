import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyClock, applyTrade, liveCandles, type CandleConfig } from './aggregator.ts';
import { initialCandleState, type CandleState } from './window-state.ts';
import type { Candle, Trade } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { loadCandleCsv } from '../../lib/candle-csv.ts';
import { tradesForMinute } from '../sources/candle-replay.ts';
import { BTC_CANDLES, ETH_CANDLES, FULL_DAY, requireData } from '../../test/support/data.ts';

const config: CandleConfig = {
  intervals: ['1m', '5m', '15m', '1h'],
  allowedLatenessMs: 2_000,
  maxGapFillMinutes: 1_440,
};
const T0 = Date.UTC(2023, 3, 4, 10, 0);
const PAIR = 'BTC/USD';

let nextId = 1;
function trade(offsetMs: number, price: number, qty = 0.5, tradeId = nextId++): Trade {
  return {
    v: 1,
    kind: 'trade',
    pair: PAIR,
    tradeId,
    price,
    qty,
    side: 'buy',
    time: T0 + offsetMs,
    source: 'simulated',
  };
}

function run(state: CandleState, trades: Trade[]): Candle[] {
  return trades.flatMap((t) => applyTrade(state, t, config).closed);
}

describe('candle aggregator', () => {
  it('builds OHLCV, VWAP and count for a minute and closes it after the allowed lateness', () => {
    const state = initialCandleState(PAIR);
    const early = run(state, [
      trade(1_000, 100, 1),
      trade(20_000, 110, 2),
      trade(40_000, 90, 1),
      trade(59_000, 105, 4),
    ]);
    assert.deepEqual(early, []);
    assert.deepEqual(run(state, [trade(61_000, 106)]), [], 'still inside the allowed lateness');
    const [minute] = run(state, [trade(62_000, 107)]);
    assert.ok(minute);
    assert.equal(minute.interval, '1m');
    assert.equal(minute.openTime, T0);
    assert.deepEqual([minute.open, minute.high, minute.low, minute.close], [100, 110, 90, 105]);
    assert.equal(minute.volume, 8);
    assert.equal(minute.tradeCount, 4);
    assert.equal(minute.vwap, (100 + 220 + 90 + 420) / 8);
    assert.equal(minute.flat, false);
  });

  it('applies an out-of-order trade within the lateness, ordering open and close by event time', () => {
    const state = initialCandleState(PAIR);
    run(state, [trade(10_000, 100), trade(59_500, 101), trade(60_500, 200)]);
    // Arrives after a trade of the next minute, but within 2 s of lateness: earliest event time sets the open.
    run(state, [trade(5_000, 99)]);
    const closed = run(state, [trade(63_000, 201)]);
    assert.equal(closed[0]?.open, 99);
    assert.equal(closed[0]?.close, 101);
    assert.equal(closed[0]?.tradeCount, 3);
  });

  it('rejects a trade for a closed minute as LATE_TRADE and ignores replayed trade ids as duplicates', () => {
    const state = initialCandleState(PAIR);
    run(state, [trade(10_000, 100, 1, 10), trade(65_000, 101, 1, 11)]);
    const duplicate = applyTrade(state, trade(10_000, 100, 1, 10), config);
    assert.equal(duplicate.outcome, 'duplicate');
    assert.throws(
      () => applyTrade(state, trade(30_000, 100, 1, 12), config),
      (e: unknown) => e instanceof TickcastError && e.code === 'LATE_TRADE',
    );
    // The same id twice inside an open minute is a duplicate too, and changes nothing.
    applyTrade(state, trade(70_000, 150, 1, 13), config);
    assert.equal(applyTrade(state, trade(70_000, 150, 1, 13), config).outcome, 'duplicate');
    const closed = run(state, [trade(125_000, 102, 1, 14)]);
    assert.equal(closed[0]?.tradeCount, 2);
    assert.equal(closed[0]?.high, 150);
  });

  it('emits flat candles carrying the previous close for minutes without trades', () => {
    const state = initialCandleState(PAIR);
    run(state, [trade(0, 100), trade(3 * 60_000 + 5_000, 120)]);
    const clock = (minutes: number) =>
      applyClock(state, { v: 1, kind: 'clock', pair: PAIR, time: T0 + minutes * 60_000, source: 'simulated' }, config)
        .closed.filter((c) => c.interval === '1m')
        .map((c) => [c.openTime - T0, c.flat, c.close]);
    // The clock closes minute 3 (its trade) but not minute 4: 5m00s minus 2 s of lateness is still inside it.
    assert.deepEqual(clock(5), [[180_000, false, 120]]);
    assert.deepEqual(clock(6.5), [
      [240_000, true, 120],
      [300_000, true, 120],
    ]);
    const state2 = initialCandleState(PAIR);
    const all = run(state2, [trade(0, 100), trade(3 * 60_000 + 5_000, 120)]).filter((c) => c.interval === '1m');
    assert.deepEqual(
      all.map((c) => [c.openTime - T0, c.flat, c.open, c.volume]),
      [
        [0, false, 100, 0.5],
        [60_000, true, 100, 0],
        [120_000, true, 100, 0],
      ],
    );
  });

  it('fills at most maxGapFillMinutes flat minutes for a gap and skips the rest, rollups included', () => {
    const state = initialCandleState(PAIR);
    const bounded = { ...config, maxGapFillMinutes: 10 };
    applyTrade(state, trade(5_000, 100), bounded);
    const threeDays = 3 * 1_440 * 60_000;
    const { closed, skipped } = applyClock(
      state,
      { v: 1, kind: 'clock', pair: PAIR, time: T0 + threeDays, source: 'kraken-ws' },
      bounded,
    );
    const minutes = closed.filter((c) => c.interval === '1m');
    assert.equal(minutes.length, 1 + 10, 'the traded minute and ten flat ones');
    assert.deepEqual(skipped, { from: T0 + 11 * 60_000, to: T0 + threeDays - 60_000 });
    // The 5m windows those minutes complete, and the 15m one they leave partial, closed by the next minute.
    assert.deepEqual(
      closed.filter((c) => c.interval === '5m').map((c) => c.openTime - T0),
      [0, 5 * 60_000],
    );
    // The next trade closes the minute before it: the rollups the skip left partial close
    // first, then the windows ending with that minute, each holding just it.
    const after = applyTrade(state, trade(threeDays + 5_000, 110), bounded);
    assert.equal(after.skipped, null);
    assert.deepEqual(
      after.closed.map((c) => [c.interval, (c.openTime - T0) / 60_000, c.tradeCount, c.flat]),
      [
        ['1m', 3 * 1_440 - 1, 0, true],
        ['5m', 10, 0, true],
        ['5m', 3 * 1_440 - 5, 0, true],
        ['15m', 0, 1, false],
        ['15m', 3 * 1_440 - 15, 0, true],
        ['1h', 0, 1, false],
        ['1h', 3 * 1_440 - 60, 0, true],
      ],
    );
  });

  it('rolls minutes up into 5m, 15m and 1h windows that close with their last minute', () => {
    const state = initialCandleState(PAIR);
    const trades: Trade[] = [];
    for (let m = 0; m <= 60; m++) trades.push(trade(m * 60_000 + 30_000, 100 + m, 0.1));
    trades.push(trade(61 * 60_000 + 30_000, 200, 0.1));
    const closed = run(state, trades);
    const byInterval = (i: string) => closed.filter((c) => c.interval === i);
    assert.equal(byInterval('1m').length, 61);
    assert.equal(byInterval('5m').length, 12);
    assert.equal(byInterval('15m').length, 4);
    const [hour] = byInterval('1h');
    assert.ok(hour);
    assert.deepEqual([hour.open, hour.high, hour.low, hour.close, hour.tradeCount], [100, 159, 100, 159, 60]);
    assert.equal(hour.volume, 6);
    // A 5m candle is emitted right after the minute that completes it.
    const fiveIndex = closed.findIndex((c) => c.interval === '5m');
    assert.equal(closed[fiveIndex - 1]?.openTime, T0 + 4 * 60_000);
  });

  it('reports live in-progress candles for the open minute and the windows containing it', () => {
    const state = initialCandleState(PAIR);
    run(state, [trade(0, 100), trade(61_000, 110), trade(65_000, 90)]);
    const live = liveCandles(state, config);
    const minute = live.find((c) => c.interval === '1m');
    const five = live.find((c) => c.interval === '5m');
    assert.equal(minute?.final, false);
    assert.equal(minute?.openTime, T0 + 60_000);
    assert.deepEqual([five?.open, five?.high, five?.low, five?.tradeCount], [100, 110, 90, 3]);
  });

  for (const [name, file, pair] of [
    ['BTC/USD', BTC_CANDLES, 'BTC/USD'],
    ['ETH/USD', ETH_CANDLES, 'ETH/USD'],
  ] as const) {
    it(`replayed real ${name} minutes come back as the same candles (a full day)`, async () => {
      const rows = (await loadCandleCsv(requireData(file))).filter(
        (r) => r.time >= FULL_DAY.from && r.time < FULL_DAY.to,
      );
      assert.equal(rows.length, 1440);
      const state = initialCandleState(pair);
      const closed: Candle[] = [];
      for (const row of rows)
        for (const t of tradesForMinute(pair, row)) closed.push(...applyTrade(state, t, config).closed);
      closed.push(
        ...applyClock(
          state,
          { v: 1, kind: 'clock', pair, time: FULL_DAY.to + 60_000, source: 'replay-candles' },
          config,
        ).closed,
      );
      const minutes = new Map(closed.filter((c) => c.interval === '1m').map((c) => [c.openTime, c]));
      assert.equal(minutes.size, 1440);
      for (const row of rows) {
        const c = minutes.get(row.time);
        assert.ok(c, `minute ${new Date(row.time).toISOString()} missing`);
        assert.deepEqual(
          [c.open, c.high, c.low, c.close, c.volume, c.tradeCount, c.flat],
          [row.open, row.high, row.low, row.close, row.volume, row.count, row.count === 0],
          `minute ${new Date(row.time).toISOString()}`,
        );
      }
      assert.equal(closed.filter((c) => c.interval === '1h').length, 24);
    });
  }
});
