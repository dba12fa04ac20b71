/**
 * Wilder's directional movement system: +DI, −DI and ADX.
 *
 *   +DM = high − prev high  if it exceeds prev low − low and is positive, else 0
 *   −DM = prev low − low    if it exceeds high − prev high and is positive, else 0
 *   ±DI = 100 · Wilder(±DM) / Wilder(TR)        (first at candle period + 1)
 *   DX  = 100 · |+DI − −DI| / (+DI + −DI)
 *   ADX = Wilder(DX), seeded with the mean of the first `period` DX (first at candle 2·period)
 *
 * Wilder's smoothing is kept as averages (alpha = 1/period) rather than Wilder's running
 * sums (S − S/period + x); the two differ by the constant factor `period`, which cancels
 * in the DI ratio. Zero ranges (flat market): DI are 0 when the smoothed true range is 0,
 * DX is 0 when both DI are 0 ("no trend"), so neither divides 0 by 0.
 */
import { z } from 'zod';
import { createWilderState, updateSmoothed, wilderStateSchema } from './moving-averages.ts';
import { trueRange } from './volatility.ts';

export const adxStateSchema = z
  .strictObject({
    /** The previous candle, null before the first one. */
    prevHigh: z.number().nullable(),
    prevLow: z.number().nullable(),
    prevClose: z.number().nullable(),
    trueRange: wilderStateSchema,
    plusDm: wilderStateSchema,
    minusDm: wilderStateSchema,
    dx: wilderStateSchema,
  })
  .refine((s) => (s.prevHigh === null) === (s.prevLow === null) && (s.prevLow === null) === (s.prevClose === null), {
    message: 'ADX previous candle partially set',
  });
export type AdxState = z.infer<typeof adxStateSchema>;

export interface AdxValue {
  adx: number | null;
  plusDi: number | null;
  minusDi: number | null;
}

export function createAdxState(period = 14): AdxState {
  return {
    prevHigh: null,
    prevLow: null,
    prevClose: null,
    trueRange: createWilderState(period),
    plusDm: createWilderState(period),
    minusDm: createWilderState(period),
    dx: createWilderState(period),
  };
}

export function updateAdx(state: AdxState, high: number, low: number, close: number): AdxValue {
  const { prevHigh, prevLow, prevClose } = state;
  state.prevHigh = high;
  state.prevLow = low;
  state.prevClose = close;
  if (prevHigh === null || prevLow === null || prevClose === null) {
    return { adx: null, plusDi: null, minusDi: null };
  }
  const up = high - prevHigh;
  const down = prevLow - low;
  const tr = updateSmoothed(state.trueRange, trueRange(high, low, prevClose));
  const plusDm = updateSmoothed(state.plusDm, up > down && up > 0 ? up : 0);
  const minusDm = updateSmoothed(state.minusDm, down > up && down > 0 ? down : 0);
  if (tr === null || plusDm === null || minusDm === null) return { adx: null, plusDi: null, minusDi: null };
  const plusDi = tr > 0 ? (plusDm * 100) / tr : 0;
  const minusDi = tr > 0 ? (minusDm * 100) / tr : 0;
  const diSum = plusDi + minusDi;
  const dx = diSum > 0 ? (Math.abs(plusDi - minusDi) / diSum) * 100 : 0;
  return { adx: updateSmoothed(state.dx, dx), plusDi, minusDi };
}
