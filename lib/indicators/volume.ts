/**
 * On-balance volume: a running total that adds the candle's volume when the close rises,
 * subtracts it when the close falls, and leaves it unchanged otherwise. It needs a
 * previous close, so the first candle only primes the state (null), and the total starts
 * at 0 on the second candle, the same alignment as `technicalindicators`. Its level
 * depends on where the stream started; only its changes carry information.
 *
 * Unlike the windowed indicators, OBV is an unbounded sum that runs for weeks, so it is
 * accumulated with Neumaier's compensated summation: `compensation` carries the low-order
 * bits lost by each addition, and the error stays at a couple of ulps of the total instead
 * of growing with the number of candles.
 */
import { z } from 'zod';

export const obvStateSchema = z.strictObject({
  prevClose: z.number().nullable(),
  sum: z.number(),
  compensation: z.number(),
});
export type ObvState = z.infer<typeof obvStateSchema>;

export function createObvState(): ObvState {
  return { prevClose: null, sum: 0, compensation: 0 };
}

export function updateObv(state: ObvState, close: number, volume: number): number | null {
  const prev = state.prevClose;
  state.prevClose = close;
  if (prev === null) return null;
  // Skip zero volume explicitly: adding −0 is a no-op anyway, and skipping keeps the state free of −0.
  if (close !== prev && volume !== 0) addCompensated(state, close > prev ? volume : -volume);
  return state.sum + state.compensation;
}

function addCompensated(state: ObvState, x: number): void {
  const t = state.sum + x;
  state.compensation += Math.abs(state.sum) >= Math.abs(x) ? state.sum - t + x : x - t + state.sum;
  state.sum = t;
}
