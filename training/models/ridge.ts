/**
 * Ridge regression on standardized features, closed form:
 *
 *   minimize (1/n) Σ (y_i − b − z_i·w)² + λ ‖w‖²   (intercept b not penalized)
 *
 * With z standardized on the training rows (column means 0), b = mean(y) and
 * (ZᵀZ/n + λI) w = Zᵀ(y − ȳ)/n, solved by Cholesky. Because ZᵀZ/n has a unit diagonal
 * (a constant column: 0), λ is scale-free: λ = 1 weighs the penalty like one unit of
 * feature variance, whatever the number of rows.
 */
import type { LinearModel } from '../model-types.ts';
import { meanAbsoluteError } from '../metrics.ts';
import { predict } from '../predict.ts';
import type { Fold } from '../splits.ts';
import { assertTrainingSet, subset, type TrainingSet } from './common.ts';
import { fitStandardizer, standardizeRows } from './standardizer.ts';

export interface RidgeOptions {
  /** Penalty λ ≥ 0 (0 is ordinary least squares; fails if the features are collinear). */
  readonly lambda: number;
}

/**
 * Solves A x = b for symmetric positive definite A by Cholesky (A = L Lᵀ). Throws if A is
 * not positive definite (to working precision).
 */
export function choleskySolve(A: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const L: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const at = (m: readonly (readonly number[])[], i: number, j: number): number => m[i]?.[j] ?? NaN;
  for (let i = 0; i < n; i += 1) {
    const Li = L[i] ?? [];
    for (let j = 0; j <= i; j += 1) {
      const Lj = L[j] ?? [];
      let sum = at(A, i, j);
      for (let k = 0; k < j; k += 1) sum -= (Li[k] ?? 0) * (Lj[k] ?? 0);
      if (i === j) {
        if (!(sum > 0)) throw new RangeError(`matrix not positive definite (pivot ${i}: ${sum})`);
        Li[i] = Math.sqrt(sum);
      } else {
        Li[j] = sum / (Lj[j] ?? NaN);
      }
    }
  }
  // L u = b, then Lᵀ x = u.
  const u = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i += 1) {
    let sum = b[i] ?? NaN;
    for (let k = 0; k < i; k += 1) sum -= at(L, i, k) * (u[k] ?? 0);
    u[i] = sum / at(L, i, i);
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i -= 1) {
    let sum = u[i] ?? NaN;
    for (let k = i + 1; k < n; k += 1) sum -= at(L, k, i) * (x[k] ?? 0);
    x[i] = sum / at(L, i, i);
  }
  return x;
}

export function fitRidge(set: TrainingSet, options: RidgeOptions): LinearModel {
  assertTrainingSet(set);
  const { lambda } = options;
  if (!(lambda >= 0 && Number.isFinite(lambda))) throw new RangeError(`lambda must be >= 0, got ${lambda}`);
  const standardizer = fitStandardizer(set.X);
  const Z = standardizeRows(standardizer, set.X);
  const n = Z.length;
  const p = set.featureNames.length;
  const yMean = set.y.reduce((s, v) => s + v, 0) / n;
  const A: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const b = new Array<number>(p).fill(0);
  for (let r = 0; r < n; r += 1) {
    const z = Z[r] ?? [];
    const yc = (set.y[r] ?? NaN) - yMean;
    for (let i = 0; i < p; i += 1) {
      const zi = z[i] ?? NaN;
      b[i] = (b[i] ?? 0) + zi * yc;
      const Ai = A[i] ?? [];
      for (let j = 0; j <= i; j += 1) Ai[j] = (Ai[j] ?? 0) + zi * (z[j] ?? NaN);
    }
  }
  for (let i = 0; i < p; i += 1) {
    const Ai = A[i] ?? [];
    b[i] = (b[i] ?? 0) / n;
    for (let j = 0; j <= i; j += 1) {
      const v = (Ai[j] ?? 0) / n;
      Ai[j] = v;
      const Aj = A[j] ?? [];
      Aj[i] = v;
    }
    Ai[i] = (Ai[i] ?? 0) + lambda;
  }
  const weights = choleskySolve(A, b);
  return { kind: 'linear', featureNames: [...set.featureNames], standardizer, weights, intercept: yMean };
}

export const DEFAULT_LAMBDAS: readonly number[] = [1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1000, 1e4, 1e5];

export interface RidgeTuning {
  readonly lambda: number;
  /** Mean over folds of the log-return MAE on each fold's validation block, per λ. */
  readonly scores: readonly { readonly lambda: number; readonly cvMae: number }[];
}

/** Chooses λ by expanding-window CV (lowest mean validation MAE; ties go to the larger λ). */
export function tuneRidge(set: TrainingSet, folds: readonly Fold[], lambdas = DEFAULT_LAMBDAS): RidgeTuning {
  if (folds.length === 0 || lambdas.length === 0) throw new RangeError('need folds and lambdas');
  const scores = lambdas.map((lambda) => {
    let total = 0;
    for (const fold of folds) {
      const model = fitRidge(subset(set, fold.fit), { lambda });
      const held = subset(set, fold.validate);
      total += meanAbsoluteError(
        held.X.map((x) => predict(model, x)),
        held.y,
      );
    }
    return { lambda, cvMae: total / folds.length };
  });
  let best = scores[0];
  for (const s of scores)
    if (best === undefined || s.cvMae < best.cvMae || (s.cvMae === best.cvMae && s.lambda > best.lambda)) best = s;
  return { lambda: best?.lambda ?? NaN, scores };
}
