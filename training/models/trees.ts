/**
 * Gradient-boosted regression trees, squared or absolute loss, small and exact about what it does:
 *
 * - Features are standardized on the training rows (the model carries the standardizer),
 *   then each feature's standardized values are cut into at most `maxBins` quantile bins.
 *   Bin edges lie halfway between neighbouring distinct training values, and a row's bin is
 *   the number of edges ≤ its value, so "bin ≤ j" is exactly "z < edge_j": the split rule
 *   the model stores (x[f] < threshold, standardized, left else right) routes every row the
 *   way training did (tested against `predict`).
 * - Trees grow depth-first to `maxDepth`, choosing at each node the split with the largest
 *   reduction of squared error, with leaf value sum(residual) / (count + l2) and at least
 *   `minLeaf` rows on each side; a node without such a split becomes a leaf. Histograms:
 *   the smaller child's is built from its rows, the larger's is the parent's minus it.
 * - Prediction = baseScore (the training mean) + learningRate · Σ leaf values.
 * - Absolute loss (`objective: 'absolute'`, the median regression LightGBM calls `l1`): the
 *   base score is the training median, splits are chosen as above on the loss's gradient
 *   sign(y − ŷ) instead of the residual, and each leaf's value is the median of its rows'
 *   residuals, shrunk by count / (count + l2) like a squared leaf. One-minute returns are
 *   heavy-tailed: a squared loss chases their outliers, the median does not, and MAE is
 *   the measure models are selected on.
 * - Rounds and depth are chosen by expanding-window CV on the training rows (`tuneTrees`):
 *   every fold records its validation MAE after each round, the per-round curves are
 *   averaged across folds, and the (depth, rounds) with the lowest mean wins. A fold stops
 *   once its curve has not improved for `patience` rounds (50), and the mean is taken over
 *   the rounds every fold reached: on one-minute returns the best is 1–45 rounds, so CV
 *   grows a fraction of the 300 rounds it would otherwise (`tickcast evaluate` 4.5 → 1.5 min).
 */
import type { TreeEnsembleModel, TreeNode } from '../model-types.ts';
import type { Fold } from '../splits.ts';
import { assertTrainingSet, subset, type TrainingSet } from './common.ts';
import { fitStandardizer, standardizeRows } from './standardizer.ts';

export interface TreeOptions {
  readonly rounds: number;
  readonly maxDepth: number;
  /** Shrinkage per tree; default 0.05. */
  readonly learningRate?: number;
  /** Fewest training rows in a leaf; default 200. */
  readonly minLeaf?: number;
  /** L2 penalty on leaf values, in rows; default 10. */
  readonly l2?: number;
  /** Histogram bins per feature, 2..256; default 64. */
  readonly maxBins?: number;
  /** Loss the trees minimise; default squared. */
  readonly objective?: TreeObjective;
}

export type TreeObjective = 'squared' | 'absolute';

const MAX_BINS = 256;

/** Ascending bin edges of one feature, from its training values. */
export function quantileEdges(values: ArrayLike<number>, maxBins: number): Float64Array {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const edges: number[] = [];
  for (let q = 1; q < maxBins; q += 1) {
    const k = Math.floor((q * n) / maxBins);
    if (k <= 0 || k >= n) continue;
    const v = sorted[k] ?? NaN;
    // First position holding v: the edge goes between the value before it and v.
    let lo = 0;
    let hi = k;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] ?? NaN) < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) continue;
    const prev = sorted[lo - 1] ?? NaN;
    const edge = prev + (v - prev) / 2;
    const last = edges[edges.length - 1];
    if (Number.isFinite(edge) && (last === undefined || edge > last)) edges.push(edge);
  }
  return Float64Array.from(edges);
}

/** Number of edges ≤ v. */
export function binOf(edges: Float64Array, v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((edges[mid] ?? NaN) <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function binRows(Z: readonly (readonly number[])[], edges: readonly Float64Array[]): Uint8Array {
  const F = edges.length;
  const bins = new Uint8Array(Z.length * F);
  Z.forEach((z, i) => {
    for (let f = 0; f < F; f += 1) bins[i * F + f] = binOf(edges[f] ?? new Float64Array(), z[f] ?? NaN);
  });
  return bins;
}

/** A grown tree: the model's nodes plus, per split node, the bin index j (left iff bin ≤ j). */
interface GrownTree {
  readonly nodes: TreeNode[];
  readonly binSplit: number[];
}

function treeValueBinned(tree: GrownTree, bins: Uint8Array, base: number): number {
  let index = 0;
  for (;;) {
    const node = tree.nodes[index];
    if (node === undefined) throw new RangeError('broken tree');
    if (node.kind === 'leaf') return node.value;
    index = (bins[base + node.feature] ?? 0) <= (tree.binSplit[index] ?? -1) ? node.left : node.right;
  }
}

export interface MonitorSet {
  readonly X: readonly (readonly number[])[];
  readonly y: readonly number[];
}

export interface TreeFit {
  readonly model: TreeEnsembleModel;
  /** Per monitor set: MAE of the log return after 0, 1, … trees (up to `rounds`, or where early stopping stopped). */
  readonly curves: readonly number[][];
}

export interface CurveOptions {
  /**
   * Stop once the first monitor set's MAE has not improved for this many rounds (the
   * ensemble then has fewer than `rounds` trees). Default: never stop early.
   */
  readonly patience?: number;
}

/** Fits the ensemble. */
export function fitTrees(set: TrainingSet, options: TreeOptions): TreeEnsembleModel {
  return fitTreesWithCurves(set, options).model;
}

/** Fits the ensemble and records, after every round, the MAE on each of `monitors` (for early stopping). */
export function fitTreesWithCurves(
  set: TrainingSet,
  options: TreeOptions,
  monitors: readonly MonitorSet[] = [],
  curveOptions: CurveOptions = {},
): TreeFit {
  const patience = curveOptions.patience ?? Infinity;
  if (!(patience >= 1)) throw new RangeError('patience must be >= 1');
  assertTrainingSet(set);
  const learningRate = options.learningRate ?? 0.05;
  const minLeaf = Math.max(1, options.minLeaf ?? 200);
  const l2 = options.l2 ?? 10;
  const maxBins = options.maxBins ?? 64;
  const absolute = (options.objective ?? 'squared') === 'absolute';
  const { rounds, maxDepth } = options;
  if (!(Number.isInteger(rounds) && rounds >= 0)) throw new RangeError('rounds must be a whole number >= 0');
  if (!(Number.isInteger(maxDepth) && maxDepth >= 0)) throw new RangeError('maxDepth must be a whole number >= 0');
  if (!(Number.isInteger(maxBins) && maxBins >= 2 && maxBins <= MAX_BINS)) throw new RangeError('maxBins 2..256');
  if (!(l2 >= 0 && learningRate > 0)) throw new RangeError('l2 must be >= 0 and learningRate > 0');

  const n = set.X.length;
  const F = set.featureNames.length;
  const standardizer = fitStandardizer(set.X);
  const Z = standardizeRows(standardizer, set.X);
  const edges = Array.from({ length: F }, (_, f) =>
    quantileEdges(
      Z.map((z) => z[f] ?? NaN),
      maxBins,
    ),
  );
  const bins = binRows(Z, edges);
  const y = Float64Array.from(set.y);
  const baseScore = absolute ? median(Float64Array.from(y)) : y.reduce((s, v) => s + v, 0) / n;
  const pred = new Float64Array(n).fill(baseScore);
  // What the histograms sum: the residual (squared loss) or its sign (absolute loss).
  const residual = new Float64Array(n);
  // Absolute loss only: the raw residuals, and room to take a leaf's median of them.
  const raw = absolute ? new Float64Array(n) : residual;
  const scratch = absolute ? new Float64Array(n) : residual;
  const order = new Uint32Array(n);

  const monitorState = monitors.map((m) => {
    const mb = binRows(standardizeRows(standardizer, m.X), edges);
    const my = Float64Array.from(m.y);
    const mp = new Float64Array(my.length).fill(baseScore);
    return { bins: mb, y: my, pred: mp, curve: [mae(mp, my)] };
  });

  // Histogram: for feature f and bin b, the residual sum at 2(f·maxBins + b) and the row count after it
  // (kept small, 20 features × 64 bins fit in L1 cache: filling it is the hot loop).
  const stride = maxBins;
  const histSize = 2 * F * stride;
  const buildHistogram = (start: number, end: number): Float64Array => {
    const hist = new Float64Array(histSize);
    for (let p = start; p < end; p += 1) {
      const i = order[p]!;
      const r = residual[i]!;
      const base = i * F;
      for (let f = 0; f < F; f += 1) {
        const k = (f * stride + bins[base + f]!) * 2;
        hist[k] = hist[k]! + r;
        hist[k + 1] = hist[k + 1]! + 1;
      }
    }
    return hist;
  };

  /** Median of the raw residuals of the rows order[start, end). */
  const leafMedian = (start: number, end: number): number => {
    const values = scratch.subarray(0, end - start);
    for (let p = start; p < end; p += 1) values[p - start] = raw[order[p]!]!;
    return median(values);
  };

  const trees: { nodes: TreeNode[] }[] = [];
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < n; i += 1) {
      const r = (y[i] ?? 0) - (pred[i] ?? 0);
      raw[i] = r;
      residual[i] = absolute ? Math.sign(r) : r;
      order[i] = i;
    }
    const tree: GrownTree = { nodes: [], binSplit: [] };

    const grow = (start: number, end: number, hist: Float64Array, depth: number): number => {
      const count = end - start;
      let total = 0;
      for (let b = 0; b < stride; b += 1) total += hist[2 * b]!; // feature 0's bins cover every row
      const index = tree.nodes.length;
      const makeLeaf = (): number => {
        const value = absolute ? leafMedian(start, end) * (count / (count + l2)) : total / (count + l2);
        tree.nodes[index] = { kind: 'leaf', value };
        tree.binSplit[index] = -1;
        for (let p = start; p < end; p += 1) {
          const i = order[p] ?? 0;
          pred[i] = (pred[i] ?? 0) + learningRate * value;
        }
        return index;
      };
      tree.nodes.push({ kind: 'leaf', value: 0 }); // placeholder, replaced below
      if (depth >= maxDepth || count < 2 * minLeaf) return makeLeaf();

      const parentScore = (total * total) / (count + l2);
      let bestGain = 1e-12 * Math.abs(parentScore);
      let bestFeature = -1;
      let bestBin = -1;
      for (let f = 0; f < F; f += 1) {
        const nb = (edges[f]?.length ?? 0) + 1;
        let gl = 0;
        let nl = 0;
        const o = 2 * f * stride;
        for (let j = 0; j < nb - 1; j += 1) {
          gl += hist[o + 2 * j]!;
          nl += hist[o + 2 * j + 1]!;
          const nr = count - nl;
          if (nl < minLeaf) continue;
          if (nr < minLeaf) break;
          const gr = total - gl;
          const gain = (gl * gl) / (nl + l2) + (gr * gr) / (nr + l2) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            bestFeature = f;
            bestBin = j;
          }
        }
      }
      if (bestFeature < 0) return makeLeaf();

      // Partition order[start, end) into bin ≤ bestBin (left) and the rest.
      let i = start;
      let j = end - 1;
      while (i <= j) {
        const row = order[i]!;
        if (bins[row * F + bestFeature]! <= bestBin) i += 1;
        else {
          order[i] = order[j] ?? 0;
          order[j] = row;
          j -= 1;
        }
      }
      const mid = i;
      const leftSmaller = mid - start <= end - mid;
      const small = leftSmaller ? buildHistogram(start, mid) : buildHistogram(mid, end);
      for (let k = 0; k < histSize; k += 1) hist[k] = hist[k]! - small[k]!;
      const leftHist = leftSmaller ? small : hist;
      const rightHist = leftSmaller ? hist : small;
      const left = grow(start, mid, leftHist, depth + 1);
      const right = grow(mid, end, rightHist, depth + 1);
      tree.nodes[index] = {
        kind: 'split',
        feature: bestFeature,
        threshold: edges[bestFeature]?.[bestBin] ?? NaN,
        left,
        right,
      };
      tree.binSplit[index] = bestBin;
      return index;
    };

    grow(0, n, buildHistogram(0, n), 0);
    trees.push({ nodes: tree.nodes });
    for (const m of monitorState) {
      for (let r = 0; r < m.y.length; r += 1) {
        m.pred[r] = (m.pred[r] ?? 0) + learningRate * treeValueBinned(tree, m.bins, r * F);
      }
      m.curve.push(mae(m.pred, m.y));
    }
    const watched = monitorState[0]?.curve;
    if (watched && round + 1 - bestRound(watched) >= patience) break;
  }

  return {
    model: {
      kind: 'trees',
      featureNames: [...set.featureNames],
      standardizer,
      baseScore,
      learningRate,
      trees,
    },
    curves: monitorState.map((m) => m.curve),
  };
}

/** The round with the lowest MAE on a curve (the earliest on a tie). */
function bestRound(curve: readonly number[]): number {
  let best = 0;
  for (let r = 1; r < curve.length; r += 1) if ((curve[r] ?? Infinity) < (curve[best] ?? Infinity)) best = r;
  return best;
}

/** Median of `values` (sorted in place; the mean of the two middle values when even). */
function median(values: Float64Array): number {
  values.sort();
  const mid = values.length >>> 1;
  return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

function mae(pred: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < y.length; i += 1) sum += Math.abs((pred[i] ?? 0) - (y[i] ?? 0));
  return y.length > 0 ? sum / y.length : NaN;
}

export interface TreeTuningOptions {
  readonly depths?: readonly number[];
  readonly maxRounds?: number;
  readonly learningRate?: number;
  readonly minLeaf?: number;
  readonly l2?: number;
  readonly maxBins?: number;
  readonly objective?: TreeObjective;
  /** Rounds without improvement after which a fold stops; default 50. */
  readonly patience?: number;
  /** Called after each (depth, fold) fit, for progress. */
  readonly onFit?: (depth: number, fold: number) => void;
}

export interface TreeTuning {
  readonly maxDepth: number;
  /** At least 1 (an ensemble without trees is a constant, which the other candidates cover). */
  readonly rounds: number;
  readonly cvMae: number;
  /** Best mean CV MAE per depth and the rounds it was reached at. */
  readonly scores: readonly { readonly maxDepth: number; readonly rounds: number; readonly cvMae: number }[];
}

export const DEFAULT_TREE_DEPTHS: readonly number[] = [2, 3, 4];

/** Chooses depth and rounds by expanding-window CV (see the module comment). */
export function tuneTrees(set: TrainingSet, folds: readonly Fold[], options: TreeTuningOptions = {}): TreeTuning {
  const depths = options.depths ?? DEFAULT_TREE_DEPTHS;
  const maxRounds = options.maxRounds ?? 300;
  if (folds.length === 0 || depths.length === 0 || maxRounds < 1) throw new RangeError('need folds, depths, rounds');
  const scores = depths.map((maxDepth) => {
    const mean = new Array<number>(maxRounds + 1).fill(0);
    // The last round every fold reached (a fold that stopped early has a shorter curve).
    let reached = maxRounds;
    folds.forEach((fold, k) => {
      const fit = fitTreesWithCurves(
        subset(set, fold.fit),
        {
          rounds: maxRounds,
          maxDepth,
          ...(options.learningRate === undefined ? {} : { learningRate: options.learningRate }),
          ...(options.minLeaf === undefined ? {} : { minLeaf: options.minLeaf }),
          ...(options.l2 === undefined ? {} : { l2: options.l2 }),
          ...(options.maxBins === undefined ? {} : { maxBins: options.maxBins }),
          ...(options.objective === undefined ? {} : { objective: options.objective }),
        },
        [subset(set, fold.validate)],
        { patience: options.patience ?? 50 },
      );
      const curve = fit.curves[0] ?? [];
      reached = Math.min(reached, curve.length - 1);
      for (let r = 0; r <= maxRounds; r += 1) mean[r] = (mean[r] ?? 0) + (curve[r] ?? NaN) / folds.length;
      options.onFit?.(maxDepth, k);
    });
    let rounds = 1;
    for (let r = 1; r <= reached; r += 1) if ((mean[r] ?? Infinity) < (mean[rounds] ?? Infinity)) rounds = r;
    return { maxDepth, rounds, cvMae: mean[rounds] ?? NaN };
  });
  let best = scores[0];
  for (const s of scores) if (best === undefined || s.cvMae < best.cvMae) best = s;
  if (best === undefined) throw new RangeError('no tuning result');
  return { maxDepth: best.maxDepth, rounds: best.rounds, cvMae: best.cvMae, scores };
}
