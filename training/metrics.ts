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

export interface PairedDifference {
  /** Mean of a_i − b_i. */
  readonly mean: number;
  /** Standard error of the mean from means of consecutive blocks (serial correlation within a block is allowed). */
  readonly stdError: number;
  readonly blocks: number;
}

/**
 * Mean paired difference of two chronological series with a block standard error: the
 * rows are cut into consecutive blocks of `blockSize`, and the SE is the standard deviation
 * of the block means over √blocks (a trailing partial block is dropped from the SE only).
 * Used for "model abs error − persistence abs error": a mean below −2·SE is a real gain.
 */
export function pairedDifference(a: readonly number[], b: readonly number[], blockSize: number): PairedDifference {
  if (a.length !== b.length || a.length === 0) throw new RangeError('length mismatch or empty');
  if (!(Number.isInteger(blockSize) && blockSize >= 1)) throw new RangeError('blockSize must be a positive integer');
  const d = a.map((v, i) => v - (b[i] ?? NaN));
  const mean = d.reduce((s, v) => s + v, 0) / d.length;
  const blockMeans: number[] = [];
  for (let start = 0; start + blockSize <= d.length; start += blockSize) {
    let sum = 0;
    for (let i = start; i < start + blockSize; i += 1) sum += d[i] ?? NaN;
    blockMeans.push(sum / blockSize);
  }
  const k = blockMeans.length;
  if (k < 2) return { mean, stdError: NaN, blocks: k };
  const m = blockMeans.reduce((s, v) => s + v, 0) / k;
  const variance = blockMeans.reduce((s, v) => s + (v - m) * (v - m), 0) / (k - 1);
  return { mean, stdError: Math.sqrt(variance / k), blocks: k };
}
