/**
 * Volatility: Bollinger Bands, Average True Range and realized volatility of log returns.
 */
import { z } from 'zod';
import { assertPeriod, createWilderState, periodSchema, updateSmoothed, wilderStateSchema } from './moving-averages.ts';
import { pushWindow, windowMean, windowVariance } from './rolling-window.ts';

// ---------------------------------------------------------------------------------------
// Bollinger Bands: middle = SMA(period) of closes, bands = middle ± multiplier·σ with σ the
// POPULATION standard deviation (divide by n), as Bollinger defines it and as
// `technicalindicators` computes it. Recomputed from the window on each update (no
// running sums, hence no drift).
//   %b        = (close − lower) / (upper − lower); 0.5 when the bands collapse (σ = 0),
//               because the close then sits exactly on the middle band.
//   bandwidth = (upper − lower) / middle, as a ratio (not ×100); 0 when the bands
//               collapse, null only if the middle is 0 with non-zero width (undefined).

export const bollingerStateSchema = z
  .strictObject({
    period: periodSchema,
    multiplier: z.number().positive(),
    /** Last `period` closes, oldest first. */
    window: z.array(z.number()),
  })
  .refine((s) => s.window.length <= s.period, { message: 'Bollinger window longer than its period' });
export type BollingerState = z.infer<typeof bollingerStateSchema>;

export interface BollingerValue {
  middle: number | null;
  upper: number | null;
  lower: number | null;
  percentB: number | null;
  bandwidth: number | null;
}

const NO_BANDS: BollingerValue = { middle: null, upper: null, lower: null, percentB: null, bandwidth: null };

export function createBollingerState(period = 20, multiplier = 2): BollingerState {
  assertPeriod(period);
  if (!(multiplier > 0 && Number.isFinite(multiplier))) throw new RangeError('multiplier must be > 0');
  return { period, multiplier, window: [] };
}

export function updateBollinger(state: BollingerState, close: number): BollingerValue {
  pushWindow(state.window, close, state.period);
  if (state.window.length < state.period) return { ...NO_BANDS };
  const middle = windowMean(state.window);
  const offset = state.multiplier * Math.sqrt(windowVariance(state.window, middle, 0));
  const upper = middle + offset;
  const lower = middle - offset;
  const width = upper - lower;
  return {
    middle,
    upper,
    lower,
    percentB: width > 0 ? (close - lower) / width : 0.5,
    bandwidth: width === 0 ? 0 : middle !== 0 ? width / middle : null,
  };
}

// ---------------------------------------------------------------------------------------
// ATR (Wilder): true range smoothed with alpha = 1/period, seeded with the mean of the
// first `period` true ranges. True range needs the previous close, so the first candle
// only primes the state (as in `technicalindicators`); the first ATR is at candle
// period + 1.

/** max(high − low, |high − previous close|, |low − previous close|). */
export function trueRange(high: number, low: number, prevClose: number): number {
  return Math.max(high - low, Math.abs(high - prevClose), Math.abs(low - prevClose));
}

export const atrStateSchema = z.strictObject({
  prevClose: z.number().nullable(),
  trueRange: wilderStateSchema,
});
export type AtrState = z.infer<typeof atrStateSchema>;

export function createAtrState(period = 14): AtrState {
  return { prevClose: null, trueRange: createWilderState(period) };
}

export function updateAtr(state: AtrState, high: number, low: number, close: number): number | null {
  const prev = state.prevClose;
  state.prevClose = close;
  if (prev === null) return null;
  return updateSmoothed(state.trueRange, trueRange(high, low, prev));
}

// ---------------------------------------------------------------------------------------
// Realized volatility: SAMPLE standard deviation (divide by n − 1, mean subtracted) of the
// last `period` one-candle log returns. Per candle, NOT annualized: multiply by
// sqrt(candles per year) downstream if needed. The sample estimator because the window
// is a sample of the return process (and the n − 1 matters at n = 15).
//
// A missing return (the caller passes null, e.g. a non-positive price) clears the
// window: returns on either side of the hole are not consecutive, so the volatility
// stays null until `period` new returns arrive.

export const realizedVolStateSchema = z
  .strictObject({
    period: periodSchema.min(2),
    /** Last `period` one-candle log returns, oldest first. */
    returns: z.array(z.number()),
  })
  .refine((s) => s.returns.length <= s.period, { message: 'realized-vol window longer than its period' });
export type RealizedVolState = z.infer<typeof realizedVolStateSchema>;

export function createRealizedVolState(period: number): RealizedVolState {
  assertPeriod(period, 2);
  return { period, returns: [] };
}

export function updateRealizedVol(state: RealizedVolState, logReturn: number | null): number | null {
  if (logReturn === null) {
    state.returns.length = 0;
    return null;
  }
  pushWindow(state.returns, logReturn, state.period);
  if (state.returns.length < state.period) return null;
  return Math.sqrt(windowVariance(state.returns, windowMean(state.returns), 1));
}
