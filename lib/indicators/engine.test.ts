/**
 * The engine's contract: names and order, warm-up nulls, JSON snapshot/restore with
 * bit-identical continuation, no NaN/Infinity on degenerate candles, validation of
 * restored state and of input candles, and no drift in long runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TickcastError } from '../errors.ts';
import {
  INDICATOR_NAMES,
  createIndicatorState,
  deserializeIndicatorState,
  indicatorStateSchema,
  isNewCandle,
  parseIndicatorState,
  serializeIndicatorState,
  updateIndicators,
  type IndicatorInput,
  type IndicatorName,
  type IndicatorState,
  type IndicatorValues,
} from './engine.ts';
import { createSmaState, updateSma } from './moving-averages.ts';
import { createBollingerState, updateBollinger } from './volatility.ts';
import { createObvState, updateObv } from './volume.ts';
import { XBTUSD_FILE, ETHUSD_FILE, flatCandle, loadKrakenCandles, runEngine } from './test-fixtures.ts';

const MINUTE = 60_000;

/** Candle index (0-based) of each indicator's first value, for candles with positive prices. */
const FIRST_VALUE_AT: Record<IndicatorName, number> = {
  sma_20: 19,
  ema_12: 11,
  ema_26: 25,
  rsi_14: 14,
  macd: 25,
  macd_signal: 33,
  macd_hist: 33,
  bb_middle: 19,
  bb_upper: 19,
  bb_lower: 19,
  bb_percent_b: 19,
  bb_bandwidth: 19,
  atr_14: 14,
  obv: 1,
  stoch_k: 13,
  stoch_d: 15,
  adx_14: 27,
  plus_di_14: 14,
  minus_di_14: 14,
  log_return_1: 1,
  log_return_5: 5,
  log_return_15: 15,
  realized_vol_15: 15,
  realized_vol_60: 60,
};

function assertAllFinite(values: IndicatorValues, where: string): void {
  for (const name of INDICATOR_NAMES) {
    const v = values[name];
    assert.ok(v === null || Number.isFinite(v), `${where}: ${name} = ${v}`);
  }
}

/** Real candles followed by degenerate ones: flat, zero price, and back. */
function mixedStream(): IndicatorInput[] {
  const real = loadKrakenCandles(XBTUSD_FILE).slice(0, 3000);
  let t = (real.at(-1)?.openTime ?? 0) + MINUTE;
  const next = (price: number): IndicatorInput => flatCandle((t += MINUTE), price);
  return [
    ...real,
    ...Array.from({ length: 100 }, () => next(28_000)),
    ...Array.from({ length: 30 }, () => next(0)),
    ...loadKrakenCandles(ETHUSD_FILE)
      .slice(0, 500)
      .map((c) => ({ ...c, openTime: (t += MINUTE) })),
  ];
}

describe('output record', () => {
  it('has exactly INDICATOR_NAMES, in order, all SQL-safe identifiers', () => {
    const values = updateIndicators(createIndicatorState(), flatCandle(0, 100));
    assert.deepEqual(Object.keys(values), [...INDICATOR_NAMES]);
    assert.equal(new Set(INDICATOR_NAMES).size, INDICATOR_NAMES.length);
    for (const name of INDICATOR_NAMES) assert.match(name, /^[a-z][a-z0-9_]*$/);
  });
});

describe('warm-up', () => {
  const candles = loadKrakenCandles(XBTUSD_FILE).slice(0, 5000);
  const outputs = runEngine(candles);

  it('returns null (never NaN or undefined) until each indicator has enough candles', () => {
    for (const name of INDICATOR_NAMES) {
      const first = outputs.findIndex((o) => o[name] !== null);
      assert.equal(first, FIRST_VALUE_AT[name], `${name} first value`);
      for (const o of outputs.slice(0, first)) assert.equal(o[name], null);
    }
  });

  it('then has a finite value on every candle of real data', () => {
    outputs.forEach((o, i) => {
      for (const name of INDICATOR_NAMES) {
        if (i < FIRST_VALUE_AT[name]) continue;
        const v = o[name];
        assert.ok(typeof v === 'number' && Number.isFinite(v), `#${i} ${name} = ${v}`);
      }
    });
  });
});

describe('snapshot and restore', () => {
  const stream = mixedStream();
  const uninterrupted = runEngine(stream);

  it('state is plain JSON data at every step (no class instances, undefined, -0 or NaN)', () => {
    const state = createIndicatorState();
    stream.forEach((candle, i) => {
      updateIndicators(state, candle);
      // deepStrictEqual compares prototypes and uses Object.is, so this fails on anything
      // that JSON would not reproduce exactly, including -0.
      assert.deepStrictEqual(JSON.parse(JSON.stringify(state)), state, `after candle #${i}`);
    });
  });

  it('restoring from JSON after every candle gives bit-identical outputs', () => {
    let state = createIndicatorState();
    const restored = stream.map((candle) => {
      const values = updateIndicators(state, candle);
      state = deserializeIndicatorState(serializeIndicatorState(state));
      return values;
    });
    // Object.is per value: identical doubles, identical nulls.
    assert.deepStrictEqual(restored, uninterrupted);
  });

  it('a crash mid-stream (restore into a new process-like state) continues identically', () => {
    const cut = 1777;
    const state = createIndicatorState();
    for (const candle of stream.slice(0, cut)) updateIndicators(state, candle);
    const snapshot = serializeIndicatorState(state);

    const resumed = deserializeIndicatorState(snapshot);
    const after = stream.slice(cut).map((candle) => updateIndicators(resumed, candle));
    assert.deepStrictEqual(after, uninterrupted.slice(cut));

    for (const candle of stream.slice(cut)) updateIndicators(state, candle);
    assert.deepStrictEqual(resumed, state);
  });

  it('the schema accepts a fresh state and one mid-stream', () => {
    assert.ok(indicatorStateSchema.safeParse(createIndicatorState()).success);
    const state = createIndicatorState();
    for (const candle of stream.slice(0, 40)) updateIndicators(state, candle);
    assert.deepStrictEqual(parseIndicatorState(JSON.parse(JSON.stringify(state))), state);
  });
});

describe('restored state validation', () => {
  const warmed = (): IndicatorState => {
    const state = createIndicatorState();
    for (const candle of loadKrakenCandles(XBTUSD_FILE).slice(0, 100)) updateIndicators(state, candle);
    return state;
  };
  const rejects = (mutate: (s: Record<string, unknown> & IndicatorState) => void, why: string): void => {
    const data = JSON.parse(JSON.stringify(warmed())) as Record<string, unknown> & IndicatorState;
    mutate(data);
    assert.equal(indicatorStateSchema.safeParse(data).success, false, why);
  };

  it('rejects corrupt or foreign snapshots', () => {
    rejects((s) => void (s.version = 2 as 1), 'other version');
    rejects((s) => void (s['extra'] = 1), 'unknown field');
    rejects((s) => void (s.sma20.window = [...s.sma20.window, 1]), 'window longer than period');
    rejects((s) => void (s.sma20.period = 21), 'different parameters');
    rejects((s) => void (s.ema12.value = null), 'seed inconsistent with value');
    rejects((s) => void (s.obv.sum = Number.NaN), 'NaN');
    rejects((s) => void (s.atr14.trueRange.value = Number.POSITIVE_INFINITY), 'Infinity');
    rejects((s) => void (s.stochastic.highs = s.stochastic.highs.slice(1)), 'high/low windows out of step');
    rejects((s) => void (s.macd.fast.kind = 'wilder' as 'ema'), 'wrong smoothing kind');
    rejects((s) => void delete (s as Partial<IndicatorState>).adx14, 'missing indicator');
  });

  it('NaN does not survive JSON: it becomes null and is rejected', () => {
    const state = warmed();
    state.rsi14.avgGain.seedSum = Number.NaN;
    assert.throws(() => deserializeIndicatorState(serializeIndicatorState(state)));
  });
});

describe('input validation', () => {
  it('rejects a non-finite candle with a non-retriable error and leaves the state untouched', () => {
    const state = createIndicatorState();
    updateIndicators(state, flatCandle(0, 100));
    const before = structuredClone(state);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => updateIndicators(state, { ...flatCandle(MINUTE, 100), close: bad }),
        (e: unknown) => e instanceof TickcastError && e.code === 'INVALID_EVENT' && !e.retriable,
      );
    }
    assert.deepStrictEqual(state, before);
  });

  it('rejects a replayed or out-of-order candle; isNewCandle lets the processor skip it', () => {
    const state = createIndicatorState();
    updateIndicators(state, flatCandle(5 * MINUTE, 100));
    const before = structuredClone(state);
    for (const openTime of [5 * MINUTE, 4 * MINUTE]) {
      assert.equal(isNewCandle(state, openTime), false);
      assert.throws(() => updateIndicators(state, flatCandle(openTime, 101)), TickcastError);
    }
    assert.deepStrictEqual(state, before);
    assert.equal(isNewCandle(state, 6 * MINUTE), true);
  });
});

describe('degenerate candles never produce NaN or Infinity', () => {
  it('flat candles from a cold start settle on the neutral values exactly', () => {
    const state = createIndicatorState();
    let last: IndicatorValues | undefined;
    for (let i = 0; i < 100; i++) {
      last = updateIndicators(state, flatCandle(i * MINUTE, 100));
      assertAllFinite(last, `flat #${i}`);
    }
    assert.deepStrictEqual(last, {
      sma_20: 100,
      ema_12: 100,
      ema_26: 100,
      rsi_14: 50, // no gains, no losses
      macd: 0,
      macd_signal: 0,
      macd_hist: 0,
      bb_middle: 100,
      bb_upper: 100,
      bb_lower: 100,
      bb_percent_b: 0.5, // collapsed bands: the close sits on the middle band
      bb_bandwidth: 0,
      atr_14: 0,
      obv: 0,
      stoch_k: 50, // zero high-low range
      stoch_d: 50,
      adx_14: 0, // zero ranges: no directional movement
      plus_di_14: 0,
      minus_di_14: 0,
      log_return_1: 0,
      log_return_5: 0,
      log_return_15: 0,
      realized_vol_15: 0,
      realized_vol_60: 0,
    });
  });

  it('flat candles at price 0 (zero middle band, undefined log returns)', () => {
    const state = createIndicatorState();
    let last: IndicatorValues | undefined;
    for (let i = 0; i < 80; i++) {
      last = updateIndicators(state, flatCandle(i * MINUTE, 0));
      assertAllFinite(last, `zero #${i}`);
    }
    assert.equal(last?.bb_bandwidth, 0);
    assert.equal(last?.bb_percent_b, 0.5);
    assert.equal(last?.log_return_1, null);
    assert.equal(last?.realized_vol_15, null);
  });

  it('long flat stretches after real data, a drop to 0 and recovery', () => {
    const stream = mixedStream();
    const outputs = runEngine(stream);
    outputs.forEach((o, i) => assertAllFinite(o, `#${i}`));
    // 100 flat candles at the end of the real segment: range, bands and returns have collapsed.
    const flatEnd = outputs[3099];
    assert.equal(flatEnd?.stoch_k, 50);
    assert.equal(flatEnd?.bb_percent_b, 0.5);
    assert.equal(flatEnd?.bb_bandwidth, 0);
    assert.equal(flatEnd?.log_return_15, 0);
    assert.equal(flatEnd?.realized_vol_60, 0);
    for (const name of ['rsi_14', 'adx_14', 'atr_14'] as const) assert.equal(typeof flatEnd?.[name], 'number');
    // The first real candle after the zero-price run: no return from 0, volatility restarts.
    const recovered = outputs[3130];
    assert.equal(recovered?.log_return_1, null);
    assert.equal(recovered?.realized_vol_15, null);
    assert.equal(outputs[3144]?.realized_vol_15, null);
    assert.equal(typeof outputs[3145]?.realized_vol_15, 'number'); // 15 returns after the hole
  });
});

describe('no drift over long runs', () => {
  it('windowed statistics depend only on the current window', () => {
    // 200k large, varied values, then 20 equal ones: a running sum would be left with
    // rounding residue from the evicted values; recomputation gives exactly the value.
    const sma = createSmaState(20);
    const bands = createBollingerState(20, 2);
    for (let i = 0; i < 200_000; i++) {
      const x = 1e8 * Math.sin(i) + 3e8 + 1 / (i + 3);
      updateSma(sma, x);
      updateBollinger(bands, x);
    }
    let mean: number | null = null;
    let bb = updateBollinger(bands, 1798.31);
    for (let i = 0; i < 20; i++) {
      mean = updateSma(sma, 1798.31);
      bb = updateBollinger(bands, 1798.31);
    }
    assert.equal(mean, 1798.31);
    assert.deepEqual(bb, { middle: 1798.31, upper: 1798.31, lower: 1798.31, percentB: 0.5, bandwidth: 0 });
  });

  it('OBV keeps small volumes on a large total (compensated summation)', () => {
    const obv = createObvState();
    updateObv(obv, 1, 0);
    updateObv(obv, 2, 1e16); // the total is now 1e16, where one ulp is 2
    let close = 2;
    let value: number | null = null;
    for (let i = 0; i < 10_000; i++) value = updateObv(obv, (close += 1), 1);
    assert.equal(value, 1e16 + 10_000); // a naive running sum stays at 1e16
  });
});
