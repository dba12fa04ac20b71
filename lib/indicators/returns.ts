/**
 * Log returns over fixed lookbacks: ln(close_t / close_{t−k}) for k candles back.
 *
 * One history of the last `maxLookback + 1` closes serves every lookback. The return is
 * computed as log1p((c − c₀) / c₀): the difference of two nearby prices is exact, so a
 * one-tick move on a 28,000 price keeps full relative precision, which ln(c / c₀) (an
 * argument within 1e-6 of 1) or ln c − ln c₀ (cancellation) would not.
 *
 * A return involving a non-positive price is undefined and yields null.
 */
import { z } from 'zod';
import { assertPeriod, periodSchema } from './moving-averages.ts';
import { pushWindow } from './rolling-window.ts';

export const closeHistoryStateSchema = z
  .strictObject({
    /** Longest lookback served; the history keeps maxLookback + 1 closes. */
    maxLookback: periodSchema,
    /** Most recent closes, oldest first. */
    closes: z.array(z.number()),
  })
  .refine((s) => s.closes.length <= s.maxLookback + 1, { message: 'close history longer than its capacity' });
export type CloseHistoryState = z.infer<typeof closeHistoryStateSchema>;

export function createCloseHistoryState(maxLookback: number): CloseHistoryState {
  assertPeriod(maxLookback);
  return { maxLookback, closes: [] };
}

export function updateCloseHistory(state: CloseHistoryState, close: number): void {
  pushWindow(state.closes, close, state.maxLookback + 1);
}

/** ln(latest close / close `lookback` candles earlier), or null if not yet available. */
export function logReturn(state: CloseHistoryState, lookback: number): number | null {
  if (lookback < 1 || lookback > state.maxLookback) {
    throw new RangeError(`lookback ${lookback} outside 1..${state.maxLookback}`);
  }
  const n = state.closes.length;
  const current = state.closes[n - 1];
  const past = state.closes[n - 1 - lookback];
  if (current === undefined || past === undefined) return null;
  if (!(current > 0 && past > 0)) return null;
  return Math.log1p((current - past) / past);
}
