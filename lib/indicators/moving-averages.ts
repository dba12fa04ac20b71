/**
 * Moving averages: simple (SMA), exponential (EMA) and Wilder's smoothing (RMA).
 *
 * Every indicator here is a plain-data state plus an update function that mutates it and
 * returns the new value (null while warming up). Plain data, because the stream processor
 * snapshots the state to a changelog topic as JSON and must resume bit-identically.
 */
import { z } from 'zod';
import { pushWindow, windowMean } from './rolling-window.ts';

/** A window length / smoothing period: a positive safe integer. */
export const periodSchema = z.int().positive();

export function assertPeriod(period: number, minimum = 1): void {
  if (!Number.isSafeInteger(period) || period < minimum) {
    throw new RangeError(`period must be an integer >= ${minimum}, got ${period}`);
  }
}

// ---------------------------------------------------------------------------------------
// SMA

export const smaStateSchema = z
  .strictObject({
    period: periodSchema,
    /** Last `period` inputs, oldest first. */
    window: z.array(z.number()),
  })
  .refine((s) => s.window.length <= s.period, { message: 'SMA window longer than its period' });
export type SmaState = z.infer<typeof smaStateSchema>;

export function createSmaState(period: number): SmaState {
  assertPeriod(period);
  return { period, window: [] };
}

/** Mean of the last `period` values; recomputed from the window, so it cannot drift. */
export function updateSma(state: SmaState, value: number): number | null {
  pushWindow(state.window, value, state.period);
  return state.window.length < state.period ? null : windowMean(state.window);
}

// ---------------------------------------------------------------------------------------
// EMA and Wilder's smoothing
//
// Both are value += alpha * (input - value) and differ only in alpha: 2 / (period + 1)
// for EMA, 1 / period for Wilder (used by RSI, ATR and ADX). Both are seeded with the SMA
// of the first `period` inputs, the classic definition and the one `technicalindicators`
// uses, so the first value appears at the `period`-th input. The recursion is contractive
// (each old rounding error is multiplied by 1 − alpha), so it needs no drift guard.

const smoothedFields = {
  period: periodSchema,
  /** Inputs summed so far for the SMA seed; stops changing once `value` is set. */
  seedCount: z.int().nonnegative(),
  seedSum: z.number(),
  /** Current average, null until `period` inputs have been seen. */
  value: z.number().nullable(),
};

function seedIsConsistent(s: { period: number; seedCount: number; value: number | null }): boolean {
  return s.seedCount <= s.period && (s.value === null) === s.seedCount < s.period;
}
const seedMessage = { message: 'smoothing seed count inconsistent with its value' };

export const emaStateSchema = z
  .strictObject({ kind: z.literal('ema'), ...smoothedFields })
  .refine(seedIsConsistent, seedMessage);
export type EmaState = z.infer<typeof emaStateSchema>;

export const wilderStateSchema = z
  .strictObject({ kind: z.literal('wilder'), ...smoothedFields })
  .refine(seedIsConsistent, seedMessage);
export type WilderState = z.infer<typeof wilderStateSchema>;

export type SmoothedState = EmaState | WilderState;

export function createEmaState(period: number): EmaState {
  assertPeriod(period);
  return { kind: 'ema', period, seedCount: 0, seedSum: 0, value: null };
}

export function createWilderState(period: number): WilderState {
  assertPeriod(period);
  return { kind: 'wilder', period, seedCount: 0, seedSum: 0, value: null };
}

export function smoothingFactor(state: SmoothedState): number {
  return state.kind === 'ema' ? 2 / (state.period + 1) : 1 / state.period;
}

/** Feeds one input to an EMA or Wilder average and returns the average (null in warm-up). */
export function updateSmoothed(state: SmoothedState, input: number): number | null {
  if (state.value === null) {
    state.seedSum += input;
    state.seedCount += 1;
    if (state.seedCount === state.period) state.value = state.seedSum / state.period;
    return state.value;
  }
  state.value = (input - state.value) * smoothingFactor(state) + state.value;
  return state.value;
}
