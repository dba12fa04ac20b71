/**
 * Evaluation metrics, on prices (USD) and on log returns.
 *
 * Directional accuracy, with ties stated:
 * - Only rows whose actual move is non-zero count (an unchanged close has no direction).
 *   The share of unchanged closes is reported separately as `flatShare`.
 * - A prediction of exactly 0 calls no direction and counts as a miss on those rows, so a
 *   model cannot gain accuracy by abstaining; persistence (always 0) scores 0 by this
 *   definition and is reported as not applicable.
 * - For scale, `majorityShare` is the accuracy of always calling the more frequent
 *   non-zero direction of the same rows (known only in hindsight).
 */

export interface PricePrediction {
  /** close_t. */
  readonly close: number;
  /** Actual close_{t+h}. */
  readonly futureClose: number;
  /** Predicted log return. */
  readonly predicted: number;
  /** Prediction interval in log-return space, if any. */
  readonly lower?: number;
  readonly upper?: number;
}

export interface PriceMetrics {
  readonly n: number;
  /** Mean |close_t · exp(ŷ) − close_{t+h}|, USD. */
  readonly mae: number;
  readonly rmse: number;
  /** Persistence (close_{t+h} predicted as close_t): mean |close_t − close_{t+h}|, USD. */
  readonly baselineMae: number;
  /** mae / baselineMae: below 1 beats persistence. */
  readonly maeRatio: number;
  /** Correct direction calls / rows with a non-zero actual move (zero predictions are misses). */
  readonly directionalAccuracy: number;
  /** Rows with a non-zero actual move. */
  readonly movingRows: number;
  /** Rows whose close did not change over the horizon / all rows. */
  readonly flatShare: number;
  /** Rows predicted exactly 0 / all rows. */
  readonly zeroPredictionShare: number;
  /** max(up, down) / moving rows. */
  readonly majorityShare: number;
  /** Share of actual closes inside the predicted interval (NaN without intervals). */
  readonly intervalCoverage: number;
  /** Mean interval width, USD (NaN without intervals). */
  readonly meanIntervalWidth: number;
}

export function priceMetrics(rows: readonly PricePrediction[]): PriceMetrics {
  if (rows.length === 0) throw new RangeError('no rows to evaluate');
  let absSum = 0;
  let sqSum = 0;
  let baseSum = 0;
  let moving = 0;
  let correct = 0;
  let up = 0;
  let zeroPredictions = 0;
  let intervals = 0;
  let covered = 0;
  let widthSum = 0;
  for (const r of rows) {
    const predictedClose = r.close * Math.exp(r.predicted);
    const error = predictedClose - r.futureClose;
    absSum += Math.abs(error);
    sqSum += error * error;
    baseSum += Math.abs(r.close - r.futureClose);
    if (r.predicted === 0) zeroPredictions += 1;
    const actual = Math.sign(r.futureClose - r.close);
    if (actual !== 0) {
      moving += 1;
      if (actual > 0) up += 1;
      if (Math.sign(r.predicted) === actual) correct += 1;
    }
    if (r.lower !== undefined && r.upper !== undefined) {
      intervals += 1;
      const lo = r.close * Math.exp(r.lower);
      const hi = r.close * Math.exp(r.upper);
      widthSum += hi - lo;
      if (r.futureClose >= lo && r.futureClose <= hi) covered += 1;
    }
  }
  const n = rows.length;
  const mae = absSum / n;
  const baselineMae = baseSum / n;
  return {
    n,
    mae,
    rmse: Math.sqrt(sqSum / n),
    baselineMae,
    maeRatio: mae / baselineMae,
    directionalAccuracy: moving > 0 ? correct / moving : NaN,
    movingRows: moving,
    flatShare: (n - moving) / n,
    zeroPredictionShare: zeroPredictions / n,
    majorityShare: moving > 0 ? Math.max(up, moving - up) / moving : NaN,
    intervalCoverage: intervals > 0 ? covered / intervals : NaN,
    meanIntervalWidth: intervals > 0 ? widthSum / intervals : NaN,
  };
}

/** Mean absolute error of two equally long series (log returns in model selection). */
export function meanAbsoluteError(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  if (predicted.length !== actual.length || actual.length === 0) throw new RangeError('length mismatch or empty');
  let sum = 0;
  for (let i = 0; i < actual.length; i += 1) sum += Math.abs((predicted[i] ?? NaN) - (actual[i] ?? NaN));
  return sum / actual.length;
}

/** |t| at which a Diebold–Mariano comparison counts as significant (two-sided ≈ 5 %). */
export const SIGNIFICANT_T = 2;

/** A Diebold–Mariano comparison of two forecasts' losses on the same rows. */
export interface LossComparison {
  /** Mean over the rows of lossA − lossB (negative: A is better). */
  readonly mean: number;
  /** HAC (Newey–West) standard error of that mean. */
  readonly stdError: number;
  /** The Diebold–Mariano statistic with the Harvey–Leybourne–Newbold correction: t ≤ −2 is a significant win for A. */
  readonly t: number;
  /** Autocovariance lags in the HAC variance. */
  readonly lag: number;
  readonly n: number;
}

/**
 * Diebold–Mariano test of equal accuracy for two chronological loss series (here the
 * absolute USD errors of a model and of persistence, row by row).
 *
 * h-step forecasts made every minute overlap, so their loss differences d_t are serially
 * correlated (at least MA(h − 1), and one-minute volatility clusters add more): the variance
 * of the mean is the Newey–West long-run variance, Bartlett weights 1 − k/(L + 1) over
 * L = max(h − 1, ⌈n^(1/3)⌉) lags (n^(1/3): the Bartlett kernel's bandwidth rate; for a week of
 * minutes that is 22 lags, well past the MA(h − 1) the horizon alone implies), and
 *
 *   t = d̄ / √(LRV / n) · √((n + 1 − 2h + h(h − 1)/n) / n)   (Harvey, Leybourne & Newbold 1997).
 *
 * NaN t when the variance is 0 (identical forecasts) or there are fewer than 2 rows.
 */
export function dieboldMariano(lossA: readonly number[], lossB: readonly number[], horizon: number): LossComparison {
  if (lossA.length !== lossB.length || lossA.length === 0) throw new RangeError('length mismatch or empty');
  if (!(Number.isInteger(horizon) && horizon >= 1)) throw new RangeError('horizon must be a positive integer');
  const n = lossA.length;
  const d = Float64Array.from(lossA, (a, i) => a - (lossB[i] ?? NaN));
  const mean = d.reduce((s, v) => s + v, 0) / n;
  const lag = Math.min(n - 1, Math.max(horizon - 1, Math.ceil(Math.cbrt(n))));
  const autocovariance = (k: number): number => {
    let sum = 0;
    for (let i = k; i < n; i += 1) sum += (d[i]! - mean) * (d[i - k]! - mean);
    return sum / n;
  };
  let variance = autocovariance(0);
  for (let k = 1; k <= lag; k += 1) variance += 2 * (1 - k / (lag + 1)) * autocovariance(k);
  const stdError = n >= 2 && variance > 0 ? Math.sqrt(variance / n) : NaN;
  const correction = Math.sqrt(Math.max(0, n + 1 - 2 * horizon + (horizon * (horizon - 1)) / n) / n);
  return { mean, stdError, t: (mean / stdError) * correction, lag, n };
}
