/**
 * Chronological splits only: a row is never evaluated by a model that was fitted on rows
 * after it, and never shuffled across time.
 *
 *   |-------- TRAIN --------|e|---- VALIDATION ----|e|------ TEST ------|end
 *                                                    ^ testStart = end − testDays
 *                            ^ validationStart = testStart − validationDays
 *
 * - TEST: the final stretch (default the last 7 days of data). Held out: never used to fit,
 *   to choose hyperparameters, to select a model or to calibrate intervals.
 * - VALIDATION: the stretch before it (default 7 days): model selection and conformal
 *   calibration.
 * - TRAIN: everything before; hyperparameters come from expanding-window time-series
 *   cross-validation inside TRAIN (`expandingWindowFolds`).
 * - Embargo `e` (default the horizon h): rows of the earlier set whose open time lies within
 *   e before a boundary are dropped. A row at t has its target at t + h, so with e ≥ h the
 *   target of every row of an earlier set is a candle that opens before the next set starts:
 *   no two sets share a target minute.
 *
 * Boundaries are wall-clock times, not row counts, so every horizon of a pair is tested on
 * the same days (pass the same `end`, the end of the candle data).
 */
import { MINUTE_MS } from './dataset.ts';

export const DAY_MS = 86_400_000;

export interface SplitOptions {
  readonly horizonMinutes: number;
  /** Length of TEST in days; default 7. */
  readonly testDays?: number;
  /** Length of VALIDATION in days; default 7. */
  readonly validationDays?: number;
  /** Gap before each boundary; default the horizon. */
  readonly embargoMinutes?: number;
  /**
   * Exclusive end of the data, epoch ms (the last candle's open time + 1 minute). Default:
   * last row's open time + horizon + 1 minute, which is that when the data ends with the
   * last row's target candle.
   */
  readonly end?: number;
}

export interface Split {
  /** Row indices, chronological. */
  readonly train: readonly number[];
  readonly validation: readonly number[];
  readonly test: readonly number[];
  readonly validationStart: number;
  readonly testStart: number;
  readonly end: number;
  readonly embargoMs: number;
}

function assertChronological(openTimes: readonly number[]): void {
  for (let i = 1; i < openTimes.length; i += 1) {
    if (!((openTimes[i] ?? 0) > (openTimes[i - 1] ?? 0))) throw new RangeError(`open times not increasing at ${i}`);
  }
}

export function chronologicalSplit(openTimes: readonly number[], options: SplitOptions): Split {
  assertChronological(openTimes);
  const last = openTimes[openTimes.length - 1];
  if (last === undefined) throw new RangeError('no rows to split');
  const testDays = options.testDays ?? 7;
  const validationDays = options.validationDays ?? 7;
  const embargoMinutes = options.embargoMinutes ?? options.horizonMinutes;
  if (!(testDays > 0 && validationDays > 0 && embargoMinutes >= 0)) throw new RangeError('invalid split lengths');
  const end = options.end ?? last + (options.horizonMinutes + 1) * MINUTE_MS;
  const testStart = end - testDays * DAY_MS;
  const validationStart = testStart - validationDays * DAY_MS;
  const embargoMs = embargoMinutes * MINUTE_MS;
  const train: number[] = [];
  const validation: number[] = [];
  const test: number[] = [];
  openTimes.forEach((t, i) => {
    if (t >= end) return;
    if (t >= testStart) test.push(i);
    else if (t >= validationStart) {
      if (t < testStart - embargoMs) validation.push(i);
    } else if (t < validationStart - embargoMs) train.push(i);
  });
  return { train, validation, test, validationStart, testStart, end, embargoMs };
}

export interface Fold {
  /** Rows to fit on: every row before the fold's validation block, minus the embargo. */
  readonly fit: readonly number[];
  /** The next block. */
  readonly validate: readonly number[];
}

/**
 * Expanding-window folds over `indices` (chronological rows, e.g. a split's TRAIN): the rows
 * are cut into `folds + 1` consecutive blocks of equal row count; fold k fits on blocks
 * 0..k and is scored on block k + 1, with rows within `embargoMinutes` before the block's
 * first open time dropped from the fit set.
 */
export function expandingWindowFolds(
  openTimes: readonly number[],
  indices: readonly number[],
  options: { readonly folds?: number; readonly embargoMinutes: number },
): Fold[] {
  const folds = options.folds ?? 4;
  if (!(Number.isInteger(folds) && folds >= 1)) throw new RangeError('folds must be a positive integer');
  const times = indices.map((i) => openTimes[i] ?? NaN);
  assertChronological(times);
  const blocks = folds + 1;
  if (indices.length < blocks * 2) throw new RangeError(`too few rows (${indices.length}) for ${folds} folds`);
  const bound = (b: number): number => Math.round((b * indices.length) / blocks);
  const embargoMs = options.embargoMinutes * MINUTE_MS;
  const out: Fold[] = [];
  for (let k = 1; k <= folds; k += 1) {
    const start = bound(k);
    const validate = indices.slice(start, bound(k + 1));
    const firstValidateTime = times[start] ?? NaN;
    const fit = indices.slice(0, start).filter((_, j) => (times[j] ?? NaN) < firstValidateTime - embargoMs);
    out.push({ fit, validate });
  }
  return out;
}
