import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createIndicatorState, updateIndicators, type IndicatorValues } from '../lib/indicators/engine.ts';
import { FEATURE_NAMES, featureNames, featureVector } from './features.ts';
import { syntheticCandles } from './synthetic.ts';

/** The indicators each feature reads (OBV and the raw bands are deliberately not among them). */
const USED = [
  'sma_20',
  'ema_12',
  'ema_26',
  'rsi_14',
  'macd',
  'macd_signal',
  'macd_hist',
  'bb_percent_b',
  'bb_bandwidth',
  'atr_14',
  'stoch_k',
  'stoch_d',
  'adx_14',
  'plus_di_14',
  'minus_di_14',
  'log_return_1',
  'log_return_5',
  'log_return_15',
  'realized_vol_15',
  'realized_vol_60',
] as const;

function run(candles: ReturnType<typeof syntheticCandles>): { close: number; values: IndicatorValues }[] {
  const state = createIndicatorState();
  return candles.map((c) => ({ close: c.close, values: updateIndicators(state, c) }));
}

describe('featureVector', () => {
  const candles = syntheticCandles({ count: 400, seed: 7 });
  const sets = run(candles);

  it('is null exactly while an input indicator is warming up, then has one value per name', () => {
    let firstComplete = -1;
    sets.forEach((set, i) => {
      const warming = USED.some((name) => set.values[name] === null);
      const x = featureVector(set);
      assert.equal(x === null, warming, `candle ${i}`);
      if (x !== null) {
        assert.equal(x.length, FEATURE_NAMES.length);
        if (firstComplete < 0) firstComplete = i;
      }
    });
    // realized_vol_60 needs 60 one-minute returns, i.e. 61 candles.
    assert.equal(firstComplete, 60);
  });

  it('computes each feature from the set at hand', () => {
    const values: Record<string, number> = {
      sma_20: 101,
      ema_12: 99,
      ema_26: 102,
      rsi_14: 70,
      macd: 0.5,
      macd_signal: 0.25,
      macd_hist: 0.25,
      bb_percent_b: 0.8,
      bb_bandwidth: 0.01,
      atr_14: 2,
      stoch_k: 40,
      stoch_d: 60,
      adx_14: 25,
      plus_di_14: 30,
      minus_di_14: 10,
      log_return_1: 0.001,
      log_return_5: -0.002,
      log_return_15: 0.003,
      realized_vol_15: 0.0004,
      realized_vol_60: 0.0005,
      obv: 123456,
    };
    const x = featureVector({ close: 100, values });
    const expected = [
      0.01, -0.01, 0.02, 0.7, 0.005, 0.0025, 0.0025, 0.8, 0.01, 0.02, 0.4, 0.6, 0.25, 0.3, 0.1, 0.001, -0.002, 0.003,
      0.0004, 0.0005,
    ];
    assert.ok(x !== null);
    x.forEach((v, i) => assert.ok(Math.abs(v - (expected[i] ?? NaN)) < 1e-12, `${FEATURE_NAMES[i]}: ${v}`));
    assert.equal(featureVector({ close: 100, values: { ...values, atr_14: Number.NaN } }), null);
    assert.equal(featureVector({ close: 0, values }), null);
    const { rsi_14: _omitted, ...withoutRsi } = values;
    assert.equal(featureVector({ close: 100, values: withoutRsi }), null);
  });

  it('is scale-free: multiplying every price by a constant leaves the features unchanged', () => {
    const scaled = run(
      candles.map((c) => ({ ...c, open: c.open * 7.3, high: c.high * 7.3, low: c.low * 7.3, close: c.close * 7.3 })),
    );
    let compared = 0;
    sets.forEach((set, i) => {
      const a = featureVector(set);
      const b = featureVector(scaled[i] ?? set);
      assert.equal(a === null, b === null);
      if (a === null || b === null) return;
      compared += 1;
      a.forEach((v, f) => {
        const w = b[f] ?? NaN;
        assert.ok(Math.abs(v - w) <= 1e-9 * Math.max(1, Math.abs(v)), `${FEATURE_NAMES[f]} at ${i}: ${v} vs ${w}`);
      });
    });
    assert.ok(compared > 300);
  });

  it('appends extra inputs (e.g. sentiment) after the base features, null while one is missing', () => {
    const set = sets[200];
    assert.ok(set !== undefined);
    const base = featureVector(set);
    assert.deepEqual(featureVector(set, [0.3, -1]), [...(base ?? []), 0.3, -1]);
    assert.equal(featureVector(set, [0.3, null]), null);
    assert.deepEqual(featureNames(['sentiment_polarity_1h']), [...FEATURE_NAMES, 'sentiment_polarity_1h']);
    assert.throws(() => featureNames(['log_return_1']), /duplicate/);
  });
});
