/**
 * Momentum oscillators: RSI (Wilder), MACD and the stochastic oscillator.
 *
 * Degenerate inputs (no price movement at all) have no defined value; instead of NaN
 * these return the neutral midpoint (RSI 50, %K 50) so downstream models see "no signal"
 * rather than a hole or a spurious extreme. `technicalindicators` returns 100 and 0 there.
 */
import { z } from 'zod';
import {
  assertPeriod,
  createEmaState,
  createSmaState,
  createWilderState,
  emaStateSchema,
  periodSchema,
  smaStateSchema,
  updateSma,
  updateSmoothed,
  wilderStateSchema,
} from './moving-averages.ts';
import { pushWindow, windowMax, windowMin } from './rolling-window.ts';

// ---------------------------------------------------------------------------------------
// RSI (Wilder): averages of gains and losses smoothed with alpha = 1/period, seeded with
// the simple mean of the first `period` close-to-close changes, so the first value needs
// period + 1 closes.

export const rsiStateSchema = z
  .strictObject({
    prevClose: z.number().nullable(),
    avgGain: wilderStateSchema,
    avgLoss: wilderStateSchema,
  })
  .refine((s) => s.avgGain.period === s.avgLoss.period && s.avgGain.seedCount === s.avgLoss.seedCount, {
    message: 'RSI gain and loss averages out of step',
  });
export type RsiState = z.infer<typeof rsiStateSchema>;

export function createRsiState(period = 14): RsiState {
  return { prevClose: null, avgGain: createWilderState(period), avgLoss: createWilderState(period) };
}

export function updateRsi(state: RsiState, close: number): number | null {
  const prev = state.prevClose;
  state.prevClose = close;
  if (prev === null) return null;
  const change = close - prev;
  // Math.max (not a ternary) so an unchanged close feeds +0, never -0, into the state.
  const gain = updateSmoothed(state.avgGain, Math.max(change, 0));
  const loss = updateSmoothed(state.avgLoss, Math.max(-change, 0));
  if (gain === null || loss === null) return null;
  const total = gain + loss;
  // 100·G/(G+L) equals the textbook 100 − 100/(1 + G/L) but needs no special case for
  // L = 0 and does not cancel when RSI is near 0. No movement at all: neutral 50.
  return total > 0 ? (100 * gain) / total : 50;
}

// ---------------------------------------------------------------------------------------
// MACD: line = EMA(fast) − EMA(slow), signal = EMA(signal) of the line, histogram = line −
// signal. The line starts when the slow EMA is seeded (candle `slow`), the signal
// `signal − 1` candles later; the same alignment as `technicalindicators`.

export const macdStateSchema = z
  .strictObject({ fast: emaStateSchema, slow: emaStateSchema, signal: emaStateSchema })
  .refine((s) => s.fast.period < s.slow.period, { message: 'MACD fast period must be below slow' });
export type MacdState = z.infer<typeof macdStateSchema>;

export interface MacdValue {
  macd: number | null;
  signal: number | null;
  histogram: number | null;
}

export function createMacdState(fast = 12, slow = 26, signal = 9): MacdState {
  if (fast >= slow) throw new RangeError('MACD fast period must be below slow');
  return { fast: createEmaState(fast), slow: createEmaState(slow), signal: createEmaState(signal) };
}

export function updateMacd(state: MacdState, close: number): MacdValue {
  const fast = updateSmoothed(state.fast, close);
  const slow = updateSmoothed(state.slow, close);
  if (fast === null || slow === null) return { macd: null, signal: null, histogram: null };
  const macd = fast - slow;
  const signal = updateSmoothed(state.signal, macd);
  return { macd, signal, histogram: signal === null ? null : macd - signal };
}

// ---------------------------------------------------------------------------------------
// Stochastic oscillator ("fast" stochastic): %K = 100 (close − lowest low) / (highest high
// − lowest low) over `period` candles including the current one; %D = SMA(`smoothing`)
// of %K. When the range is zero (every candle in the window flat at one price) %K is 50.

export const stochasticStateSchema = z
  .strictObject({
    period: periodSchema,
    /** Highs and lows of the last `period` candles, oldest first. */
    highs: z.array(z.number()),
    lows: z.array(z.number()),
    percentD: smaStateSchema,
  })
  .refine((s) => s.highs.length === s.lows.length && s.highs.length <= s.period, {
    message: 'stochastic high/low windows inconsistent',
  });
export type StochasticState = z.infer<typeof stochasticStateSchema>;

export interface StochasticValue {
  k: number | null;
  d: number | null;
}

export function createStochasticState(period = 14, smoothing = 3): StochasticState {
  assertPeriod(period);
  return { period, highs: [], lows: [], percentD: createSmaState(smoothing) };
}

export function updateStochastic(state: StochasticState, high: number, low: number, close: number): StochasticValue {
  pushWindow(state.highs, high, state.period);
  pushWindow(state.lows, low, state.period);
  if (state.highs.length < state.period) return { k: null, d: null };
  const lowest = windowMin(state.lows);
  const range = windowMax(state.highs) - lowest;
  const k = range > 0 ? ((close - lowest) / range) * 100 : 50;
  return { k, d: updateSma(state.percentD, k) };
}
