/**
 * Bounded windows of the most recent values, kept as plain arrays (oldest first).
 *
 * Why arrays and not a ring buffer with a head index: the longest window is 60 numbers,
 * so `shift()` costs nothing measurable, and a plain array is JSON as-is, validates with
 * a length check, and cannot be restored with an inconsistent head pointer.
 *
 * Why statistics are recomputed from the window on every update instead of kept as
 * running sums: a running sum that adds the new value and subtracts the evicted one
 * accumulates rounding error without bound, and the processor runs for weeks. Recomputing
 * over at most 60 values is O(period), has no drift to guard against, and makes the output
 * a pure function of the window, so a restored state reproduces it bit for bit.
 */

/** Appends `value` and evicts the oldest entries so at most `capacity` remain. */
export function pushWindow(window: number[], value: number, capacity: number): void {
  window.push(value);
  while (window.length > capacity) window.shift();
}

/**
 * Arithmetic mean, summed relative to the first element. Subtracting a common reference
 * strips the price level (e.g. 28,000) before summing, which keeps the small differences
 * exact, and a window of equal values returns exactly that value (a plain sum / n does
 * not always, e.g. 20 × 1798.31 / 20), so flat markets give exactly zero deviation.
 */
export function windowMean(window: readonly number[]): number {
  const reference = window[0];
  if (reference === undefined) throw new RangeError('mean of an empty window');
  let sum = 0;
  for (const x of window) sum += x - reference;
  return reference + sum / window.length;
}

/**
 * Variance about `mean` (two-pass, so no catastrophic cancellation of E[x²] − E[x]²).
 * `ddof` 0 gives the population variance (divide by n), 1 the Bessel-corrected sample
 * variance (divide by n − 1).
 */
export function windowVariance(window: readonly number[], mean: number, ddof: 0 | 1): number {
  const n = window.length - ddof;
  if (n <= 0) throw new RangeError(`variance needs more than ${ddof} values`);
  let sumSquares = 0;
  for (const x of window) {
    const d = x - mean;
    sumSquares += d * d;
  }
  return sumSquares / n;
}

export function windowMax(window: readonly number[]): number {
  let max = -Infinity;
  for (const x of window) if (x > max) max = x;
  return max;
}

export function windowMin(window: readonly number[]): number {
  let min = Infinity;
  for (const x of window) if (x < min) min = x;
  return min;
}
