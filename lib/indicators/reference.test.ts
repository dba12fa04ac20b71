/**
 * Every indicator against an independent implementation on real Kraken one-minute data:
 * the `technicalindicators` package where it has the indicator, a batch implementation
 * written here otherwise (log returns, realized volatility, and OBV in exact decimal).
 *
 * Each comparison reports (as a test diagnostic) the largest absolute and relative
 * difference seen; the tolerances below are the honest bounds, explained where they are
 * not a plain 1e-9 relative.
 *
 * Conventions where `technicalindicators` (TI) differs, and what the test does about it:
 * - Rounding: TI rounds through `format`, which is identity unless a global precision is
 *   configured; every TI call here passes `format: identity` anyway. RSI is the exception:
 *   TI hard-codes `toFixed(2)`, so RSI is checked twice: against TI's RSI within 0.005
 *   (half its last digit), and exactly against RSI recomputed from TI's own un-rounded
 *   AverageGain / AverageLoss.
 * - Seeding: TI seeds EMA, RSI, ATR and ADX with the SMA of the first `period` inputs and
 *   starts true range and OBV at the second candle; so does this library, so values match
 *   from the first one and the warm-up lengths are asserted equal.
 * - Degenerate windows (no price movement): RSI with no gains or losses is 50 here, 100 in
 *   TI; %K with a zero high-low range is 50 here, 0 in TI; %b with collapsed bands is 0.5
 *   here, NaN in TI. The expected value is mapped for exactly those points, detected
 *   from TI's own intermediates or the raw data, never from this library's output.
 * - TI's ADX emits +DI/−DI only once ADX exists (candle 28); this library emits them from
 *   candle 15, when they are defined. They are compared where TI has them.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  ADX,
  ATR,
  AverageGain,
  AverageLoss,
  BollingerBands,
  EMA,
  MACD,
  OBV,
  RSI,
  SMA,
  Stochastic,
  getConfig,
} from 'technicalindicators';
import type { IndicatorName, IndicatorValues } from './engine.ts';
import { ETHUSD_FILE, XBTUSD_FILE, loadKrakenCandles, runEngine, type KrakenCandle } from './test-fixtures.ts';

/** Disables TI's optional `toPrecision` rounding. */
const identity = (v: number): number => v;
const EPSILON = Number.EPSILON;

interface Tolerance {
  rel: number;
  abs: number;
}
/** The plain bound, where both sides compute the same formula in slightly different float order. */
const TIGHT: Tolerance = { rel: 1e-9, abs: 0 };

/** `values` re-indexed by input candle: TI returns only the post-warm-up tail. */
function tailAligned<T>(n: number, values: readonly T[]): (T | undefined)[] {
  const offset = n - values.length;
  return Array.from({ length: n }, (_, i) => (i >= offset ? values[i - offset] : undefined));
}

function column(outputs: readonly IndicatorValues[], name: IndicatorName): (number | null)[] {
  return outputs.map((o) => o[name]);
}

/**
 * Asserts |actual − expected| ≤ abs + rel·max(|actual|, |expected|) wherever `expected` is
 * defined, and that `actual` is null before the first expected value unless told otherwise.
 */
function assertMatches(
  t: TestContext,
  name: string,
  actual: readonly (number | null)[],
  expected: readonly (number | undefined)[],
  tolerance: Tolerance | ((i: number) => Tolerance),
  options: { warmUpMatches?: boolean } = {},
): void {
  const failures: string[] = [];
  let points = 0;
  let maxAbs = 0;
  let maxRel = 0;
  const firstExpected = expected.findIndex((e) => e !== undefined);
  assert.ok(firstExpected >= 0, `${name}: reference produced no values`);
  if (options.warmUpMatches ?? true) {
    assert.equal(
      actual.findIndex((a) => a !== null),
      firstExpected,
      `${name}: first value at a different candle than the reference`,
    );
  }
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    if (e === undefined) continue;
    const a = actual[i];
    if (a === null || a === undefined) {
      failures.push(`#${i}: null, expected ${e}`);
      continue;
    }
    const { rel, abs } = typeof tolerance === 'function' ? tolerance(i) : tolerance;
    const diff = Math.abs(a - e);
    const magnitude = Math.max(Math.abs(a), Math.abs(e));
    if (!(diff <= abs + rel * magnitude)) failures.push(`#${i}: ${a} vs expected ${e} (|Δ| ${diff})`);
    points++;
    maxAbs = Math.max(maxAbs, diff);
    if (magnitude > 0) maxRel = Math.max(maxRel, diff / magnitude);
  }
  t.diagnostic(`${name}: ${points} points, max |Δ| ${maxAbs.toExponential(2)}, max rel ${maxRel.toExponential(2)}`);
  assert.deepEqual(failures.slice(0, 5), [], `${name}: ${failures.length} of ${points} points out of tolerance`);
}

/** Exact OBV in units of 1e-8 (Kraken volume precision), from the volume text. */
function exactObv(candles: readonly KrakenCandle[]): (number | undefined)[] {
  // The file writes some volumes in exponent form (e.g. 4e-05), so parse mantissa and exponent.
  const units = (text: string): bigint => {
    const match = /^(\d+)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text);
    assert.ok(match, `unparseable volume ${text}`);
    const [, whole = '', fraction = '', exponent = '0'] = match;
    const shift = 8 - fraction.length + Number(exponent);
    assert.ok(shift >= 0, `volume ${text} is finer than 1e-8`);
    return BigInt(whole + fraction) * 10n ** BigInt(shift);
  };
  let total = 0n;
  return candles.map((c, i) => {
    const prev = candles[i - 1];
    if (prev === undefined) return undefined;
    if (c.close > prev.close) total += units(c.volumeText);
    else if (c.close < prev.close) total -= units(c.volumeText);
    return Number(total) / 1e8;
  });
}

/** ln(close_i / close_{i−k}), the textbook batch formula. */
function batchLogReturns(closes: readonly number[], k: number): (number | undefined)[] {
  return closes.map((c, i) => {
    const past = closes[i - k];
    return past === undefined ? undefined : Math.log(c / past);
  });
}

/** Sample standard deviation (n − 1) of the `window` one-candle log returns ending at each candle. */
function batchRealizedVol(closes: readonly number[], window: number): (number | undefined)[] {
  const returns = batchLogReturns(closes, 1);
  return closes.map((_, i) => {
    if (i < window) return undefined;
    const sample = returns.slice(i - window + 1, i + 1) as number[];
    const mean = sample.reduce((s, r) => s + r, 0) / window;
    return Math.sqrt(sample.reduce((s, r) => s + (r - mean) ** 2, 0) / (window - 1));
  });
}

const DATASETS = [
  { label: 'XBTUSD', file: XBTUSD_FILE },
  { label: 'ETHUSD', file: ETHUSD_FILE },
] as const;

it('technicalindicators is not configured to round (no global precision)', () => {
  assert.equal(getConfig('precision'), undefined);
});

for (const { label, file } of DATASETS) {
  describe(`${label} 1m candles vs technicalindicators`, () => {
    // The whole file (~50k candles): includes the first 5,000, two multi-hour gaps and a
    // 76-minute stretch of flat zero-volume candles (2023-05-07 19:44).
    const candles = loadKrakenCandles(file);
    const n = candles.length;
    const close = candles.map((c) => c.close);
    const high = candles.map((c) => c.high);
    const low = candles.map((c) => c.low);
    const volume = candles.map((c) => c.volume);
    const outputs = runEngine(candles);
    const mine = (name: IndicatorName): (number | null)[] => column(outputs, name);

    it('has enough data', () => {
      assert.ok(n > 5000, `${file} has ${n} candles`);
    });

    it('sma_20, ema_12, ema_26', (t) => {
      const references = {
        sma_20: SMA.calculate({ period: 20, values: close, format: identity }),
        ema_12: EMA.calculate({ period: 12, values: close, format: identity }),
        ema_26: EMA.calculate({ period: 26, values: close, format: identity }),
      };
      for (const [name, reference] of Object.entries(references) as [IndicatorName, number[]][]) {
        assertMatches(t, name, mine(name), tailAligned(n, reference), TIGHT);
      }
    });

    it('rsi_14', (t) => {
      const gains = tailAligned(n, AverageGain.calculate({ period: 14, values: close, format: identity }));
      const losses = tailAligned(n, AverageLoss.calculate({ period: 14, values: close, format: identity }));
      // TI's own formula on its un-rounded averages, except "no movement" (50 here, 100 in TI).
      const fromAverages = gains.map((g, i) => {
        const l = losses[i];
        if (g === undefined || l === undefined) return undefined;
        if (l === 0) return g === 0 ? 50 : 100;
        return g === 0 ? 0 : 100 - 100 / (1 + g / l);
      });
      // Near RSI 0 the textbook form cancels (100 − ~100), so allow ~100 ulps of 100 absolute.
      assertMatches(t, 'rsi_14 vs TI averages', mine('rsi_14'), fromAverages, { rel: 1e-9, abs: 1e-11 });

      const rounded = tailAligned(n, RSI.calculate({ period: 14, values: close }));
      const mapped = rounded.map((r, i) => (r !== undefined && gains[i] === 0 && losses[i] === 0 ? 50 : r));
      assertMatches(t, 'rsi_14 vs TI RSI (2 dp)', mine('rsi_14'), mapped, { rel: 0, abs: 0.005 + 1e-9 });
      t.diagnostic(`rsi_14: ${mapped.filter((r, i) => r !== rounded[i]).length} no-movement points mapped 100 -> 50`);
    });

    it('macd, macd_signal, macd_hist', (t) => {
      const result = tailAligned(
        n,
        MACD.calculate({
          fastPeriod: 12,
          slowPeriod: 26,
          signalPeriod: 9,
          SimpleMAOscillator: false,
          SimpleMASignal: false,
          values: close,
          format: identity,
        }),
      );
      // Differences of two EMAs at price level: rounding is relative to the price, not to
      // the (often near-zero) difference, so the absolute slack is a few ulps of the close.
      const priceUlps = (i: number): Tolerance => ({ rel: 1e-9, abs: 16 * EPSILON * (close[i] ?? 0) });
      const fields = [
        ['macd', 'MACD'],
        ['macd_signal', 'signal'],
        ['macd_hist', 'histogram'],
      ] as const;
      for (const [name, field] of fields) {
        const reference = result.map((r) => r?.[field]);
        assertMatches(t, name, mine(name), reference, priceUlps);
      }
    });

    it('bb_middle, bb_upper, bb_lower, bb_percent_b, bb_bandwidth', (t) => {
      const bands = tailAligned(
        n,
        BollingerBands.calculate({ period: 20, stdDev: 2, values: close, format: identity }),
      );
      for (const [name, field] of [
        ['bb_middle', 'middle'],
        ['bb_upper', 'upper'],
        ['bb_lower', 'lower'],
      ] as const) {
        const reference = bands.map((b) => b?.[field]);
        assertMatches(t, name, mine(name), reference, TIGHT);
      }
      // %b = (close − lower) / width is ill-conditioned when the bands are narrow: rounding of
      // order ε·price in either side's bands moves it by ε·price / width. Bound it by that,
      // with 64 ulps of slack; TI's NaN for collapsed bands (width 0) maps to 0.5.
      const percentB = bands.map((b) => (b === undefined ? undefined : b.upper === b.lower ? 0.5 : b.pb));
      assertMatches(t, 'bb_percent_b', mine('bb_percent_b'), percentB, (i) => {
        const b = bands[i];
        const width = b === undefined ? 0 : b.upper - b.lower;
        return { rel: 1e-9, abs: width > 0 ? (64 * EPSILON * (close[i] ?? 0)) / width : 0 };
      });
      // TI has no bandwidth; (upper − lower) / middle from its bands. TI keeps a running sum
      // for the mean, which drifts (up to 1.7e-10 USD on XBTUSD here); in a window of equal
      // closes that drift shows up as a spurious σ, so TI's bands never collapse to the 0
      // width this library computes. 1e-12 (of the price level) bounds that honestly.
      const bandwidth = bands.map((b) => (b === undefined ? undefined : (b.upper - b.lower) / b.middle));
      assertMatches(t, 'bb_bandwidth', mine('bb_bandwidth'), bandwidth, { rel: 1e-9, abs: 1e-12 });

      // Where the bands are not nearly collapsed (width ≥ 1e-4 of the price, 2.8 USD on
      // XBTUSD; typical widths are tens of USD), the rounding above is < 1e-11 and both match
      // to 1e-9 (absolute for %b, which crosses 0).
      const wellConditioned = (i: number): boolean => {
        const b = bands[i];
        return b !== undefined && b.upper - b.lower >= 1e-4 * b.middle;
      };
      const where = <T>(values: readonly T[]): (T | undefined)[] =>
        values.map((v, i) => (wellConditioned(i) ? v : undefined));
      const options = { warmUpMatches: false };
      const label = '(width ≥ 1e-4·price)';
      assertMatches(
        t,
        `bb_percent_b ${label}`,
        mine('bb_percent_b'),
        where(percentB),
        { rel: 1e-9, abs: 1e-9 },
        options,
      );
      assertMatches(t, `bb_bandwidth ${label}`, mine('bb_bandwidth'), where(bandwidth), TIGHT, options);
    });

    it('atr_14', (t) => {
      const atr = tailAligned(n, ATR.calculate({ period: 14, high, low, close, format: identity }));
      assertMatches(t, 'atr_14', mine('atr_14'), atr, TIGHT);
    });

    it('obv', (t) => {
      // TI sums naively in binary; the exact decimal sum is the stricter reference. Both
      // bounds are relative to the total volume traded, the scale of the sums' rounding.
      let total = 0;
      const traded = volume.map((v) => (total += v));
      const scale = (i: number): Tolerance => ({ rel: 0, abs: 1e-12 * (traded[i] ?? 0) });
      assertMatches(t, 'obv vs TI', mine('obv'), tailAligned(n, OBV.calculate({ close, volume })), scale);
      assertMatches(t, 'obv vs exact decimal', mine('obv'), exactObv(candles), scale);
    });

    it('stoch_k, stoch_d', (t) => {
      const stochastic = tailAligned(
        n,
        Stochastic.calculate({ period: 14, signalPeriod: 3, high, low, close, format: identity }),
      );
      // Zero range over the 14-candle window (from the raw data): TI says 0, this library 50.
      const flatRange = (i: number): boolean =>
        Math.max(...high.slice(i - 13, i + 1)) === Math.min(...low.slice(i - 13, i + 1));
      const k = stochastic.map((s, i) => (s === undefined ? undefined : flatRange(i) ? 50 : s.k));
      assertMatches(t, 'stoch_k', mine('stoch_k'), k, { rel: 1e-9, abs: 1e-9 });
      t.diagnostic(`stoch_k: ${k.filter((v, i) => v !== stochastic[i]?.k).length} zero-range windows mapped 0 -> 50`);
      // %D is TI's SMA(3) over the mapped %K, so it inherits the same mapping.
      const kValues = k.filter((v): v is number => v !== undefined);
      const d = tailAligned(n, SMA.calculate({ period: 3, values: kValues, format: identity }));
      assertMatches(t, 'stoch_d', mine('stoch_d'), d, { rel: 1e-9, abs: 1e-9 });
    });

    it('adx_14, plus_di_14, minus_di_14', (t) => {
      const adx = tailAligned(n, ADX.calculate({ period: 14, high, low, close, format: identity }));
      // 0–100 scales with near-zero values (DI in a one-sided market): absolute slack 1e-9.
      const tolerance = { rel: 1e-9, abs: 1e-9 };
      for (const [name, field] of [
        ['adx_14', 'adx'],
        ['plus_di_14', 'pdi'],
        ['minus_di_14', 'mdi'],
      ] as const) {
        const reference = adx.map((a) => a?.[field]);
        // TI emits DI only once ADX exists (candle 28); here they start at candle 15.
        assertMatches(t, name, mine(name), reference, tolerance, { warmUpMatches: name === 'adx_14' });
      }
    });

    it('log_return_1, log_return_5, log_return_15 vs batch ln(c / c₋ₖ)', (t) => {
      // ln(c / c₀) has absolute error ~ε (the ratio's rounding), which is large relative to a
      // one-tick return; the library's log1p form is the more accurate of the two.
      const tolerance = { rel: 1e-9, abs: 4 * EPSILON };
      for (const k of [1, 5, 15] as const) {
        assertMatches(t, `log_return_${k}`, mine(`log_return_${k}`), batchLogReturns(close, k), tolerance);
      }
    });

    it('realized_vol_15, realized_vol_60 vs batch sample std', (t) => {
      for (const w of [15, 60] as const) {
        assertMatches(t, `realized_vol_${w}`, mine(`realized_vol_${w}`), batchRealizedVol(close, w), {
          rel: 1e-9,
          abs: 4 * EPSILON,
        });
      }
    });
  });
}
