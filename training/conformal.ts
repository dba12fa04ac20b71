/**
 * Split-conformal prediction intervals. The model is fitted on TRAIN; its absolute
 * residuals |y − ŷ| on a calibration set it never saw (VALIDATION) give
 *
 *   q = the ⌈(1 − α)(n + 1)⌉-th smallest of the n calibration residuals
 *     (the (1 − α)(1 + 1/n) empirical quantile; +∞ when that rank exceeds n),
 *
 * and the interval for a new prediction is [ŷ − q, ŷ + q] in log-return space, i.e.
 * [close·e^(ŷ−q), close·e^(ŷ+q)] in price. If calibration and future residuals are
 * exchangeable, the interval covers the actual value with probability ≥ 1 − α. Market
 * returns are not exchangeable over time (volatility clusters), so coverage on a later
 * TEST stretch is measured and reported, not assumed.
 */

export interface ConformalCalibration {
  /** Miscoverage level: 0.1 for 90% intervals. */
  readonly alpha: number;
  /** Half-width in log-return space. */
  readonly q: number;
  /** Calibration rows used. */
  readonly n: number;
}

export interface PredictionInterval {
  /** Log-return bounds. */
  readonly lower: number;
  readonly upper: number;
  /** Price bounds, close·exp(bound). */
  readonly lowerPrice: number;
  readonly upperPrice: number;
}

/** The ⌈(1 − α)(n + 1)⌉-th smallest absolute residual (+∞ if n is too small for α). */
export function conformalQuantile(absResiduals: readonly number[], alpha = 0.1): number {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  const n = absResiduals.length;
  if (n === 0) throw new RangeError('no calibration residuals');
  if (absResiduals.some((r) => !(r >= 0))) throw new RangeError('residuals must be absolute values');
  // The rank is computed with a small tolerance so that e.g. (1 − 0.1)·(9 + 1) = 9.000000000000002 is rank 9.
  const rank = Math.ceil((1 - alpha) * (n + 1) - 1e-9);
  if (rank > n) return Infinity;
  const sorted = [...absResiduals].sort((a, b) => a - b);
  return sorted[Math.max(rank, 1) - 1] ?? Infinity;
}

/** Calibrates from the predictions and actual values (log returns) of the calibration set. */
export function calibrate(predicted: readonly number[], actual: readonly number[], alpha = 0.1): ConformalCalibration {
  if (predicted.length !== actual.length) throw new RangeError('predicted and actual differ in length');
  const residuals = actual.map((y, i) => Math.abs(y - (predicted[i] ?? NaN)));
  return { alpha, q: conformalQuantile(residuals, alpha), n: residuals.length };
}

export function predictionInterval(
  predicted: number,
  calibration: ConformalCalibration,
  close: number,
): PredictionInterval {
  const lower = predicted - calibration.q;
  const upper = predicted + calibration.q;
  return { lower, upper, lowerPrice: close * Math.exp(lower), upperPrice: close * Math.exp(upper) };
}
