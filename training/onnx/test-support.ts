/**
 * Test support for the ONNX export: real feature rows from the shared Kraken candles, and
 * realistic models over them (a ridge fit, tree ensembles with data-driven thresholds).
 */
import { createIndicatorState, updateIndicators } from '../../lib/indicators/engine.ts';
import { loadCandleCsv } from '../../lib/candle-csv.ts';
import { seededRandom } from '../../lib/random.ts';
import { FEATURE_NAMES, featureVector } from '../features.ts';
import type { LinearModel, Standardizer, TreeEnsembleModel, TreeNode } from '../model-types.ts';

export const BTC_CANDLES = new URL(
  '../../../shared/data/kraken/ohlcv_1m/XBTUSD_1m_2023-04-03_2023-05-10.csv.gz',
  import.meta.url,
).pathname;

export interface RealRows {
  readonly featureNames: readonly string[];
  /** Feature vectors (training/features.ts) of every warmed-up minute, chronological. */
  readonly x: readonly (readonly number[])[];
  /** ln(close_{t+h} / close_t) for each row (0 for the last h rows). */
  readonly y: readonly number[];
}

let cached: Promise<RealRows> | undefined;

/** Every minute of the BTC/USD file through the indicator engine (fresh state after a gap) and featureVector. */
export function loadRealRows(horizonMinutes = 5): Promise<RealRows> {
  cached ??= (async () => {
    const candles = await loadCandleCsv(BTC_CANDLES);
    let state = createIndicatorState();
    let previous: number | undefined;
    const x: number[][] = [];
    const closes: number[] = [];
    for (const c of candles) {
      if (previous !== undefined && c.time !== previous + 60_000) state = createIndicatorState();
      previous = c.time;
      const values = updateIndicators(state, {
        openTime: c.time,
        open: c.open,
        high: c.high,
        low: c.low,
        close: c.close,
        volume: c.volume,
      });
      const v = featureVector({ close: c.close, values });
      if (v === null) continue;
      x.push(v);
      closes.push(c.close);
    }
    // A row-count horizon is good enough for fitting a realistic-looking model here.
    const y = closes.map((c, i) => Math.log((closes[i + horizonMinutes] ?? c) / c));
    return { featureNames: FEATURE_NAMES, x, y };
  })();
  return cached;
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export function fitStandardizer(x: readonly (readonly number[])[]): Standardizer {
  const f = x[0]?.length ?? 0;
  const mean = Array.from({ length: f }, (_, j) => x.reduce((s, r) => s + (r[j] ?? 0), 0) / x.length);
  const scale = mean.map((m, j) => Math.sqrt(x.reduce((s, r) => s + ((r[j] ?? 0) - m) ** 2, 0) / x.length) || 1);
  return { mean, scale };
}

/** Standardized exactly as training/predict.ts does: (x - mean) / scale in float64. */
export function standardizeRow(s: Standardizer, row: readonly number[]): number[] {
  return row.map((v, j) => (v - (s.mean[j] ?? NaN)) / (s.scale[j] ?? NaN));
}

/** Ridge regression on standardized features (normal equations, Gaussian elimination). */
export function fitRidge(rows: RealRows, lambda = 1): LinearModel {
  const standardizer = fitStandardizer(rows.x);
  const f = rows.featureNames.length;
  const yMean = rows.y.reduce((s, v) => s + v, 0) / rows.y.length;
  const a = Array.from({ length: f }, (_, i) => Array.from({ length: f + 1 }, (_, j) => (i === j ? lambda : 0)));
  rows.x.forEach((row, r) => {
    const z = standardizeRow(standardizer, row);
    const y = (rows.y[r] ?? 0) - yMean;
    for (let i = 0; i < f; i++) {
      const ai = a[i] ?? [];
      for (let j = 0; j < f; j++) ai[j] = (ai[j] ?? 0) + (z[i] ?? 0) * (z[j] ?? 0);
      ai[f] = (ai[f] ?? 0) + (z[i] ?? 0) * y;
    }
  });
  for (let c = 0; c < f; c++) {
    const pivot = a[c] ?? [];
    for (let r = c + 1; r < f; r++) {
      const row = a[r] ?? [];
      const k = (row[c] ?? 0) / (pivot[c] ?? 1);
      for (let j = c; j <= f; j++) row[j] = (row[j] ?? 0) - k * (pivot[j] ?? 0);
    }
  }
  const weights = new Array<number>(f).fill(0);
  for (let i = f - 1; i >= 0; i--) {
    const row = a[i] ?? [];
    let s = row[f] ?? 0;
    for (let j = i + 1; j < f; j++) s -= (row[j] ?? 0) * (weights[j] ?? 0);
    weights[i] = s / (row[i] ?? 1);
  }
  return { kind: 'linear', featureNames: rows.featureNames, standardizer, weights, intercept: yMean };
}

export interface RandomTreesOptions {
  readonly trees: number;
  readonly depth: number;
  readonly seed: number;
  readonly learningRate?: number;
  /**
   * 'values': a threshold is a feature value of one of the node's rows (a quantile), so rows
   * sit exactly on thresholds, the hardest case for float32. 'midpoints': halfway between
   * two neighbouring distinct values, as training/models/trees.ts cuts its bins.
   */
  readonly thresholds: 'values' | 'midpoints';
  /** Rows each tree is grown on (a random subsample). */
  readonly sampleRows?: number;
}

/**
 * A boosted-looking ensemble over real rows: each tree is grown on a random subsample,
 * every node splits a random feature at a quantile (20–80%) of the rows reaching it,
 * branches stop early now and then, leaves are Gaussian at the target's scale, and the
 * nodes of each tree are stored in shuffled order (root first) to exercise the index mapping.
 */
export function randomTrees(rows: RealRows, options: RandomTreesOptions): TreeEnsembleModel {
  const random = seededRandom(options.seed);
  const standardizer = fitStandardizer(rows.x);
  const z = rows.x.map((row) => standardizeRow(standardizer, row));
  const f = rows.featureNames.length;
  const yMean = rows.y.reduce((s, v) => s + v, 0) / rows.y.length;
  const ySd = Math.sqrt(rows.y.reduce((s, v) => s + (v - yMean) ** 2, 0) / rows.y.length);
  const sampleRows = options.sampleRows ?? 4000;

  const splitValue = (members: readonly number[], feature: number): number | undefined => {
    const sorted = members.map((r) => z[r]?.[feature] ?? 0).sort((p, q) => p - q);
    const k = Math.floor((0.2 + 0.6 * random()) * sorted.length);
    const v = sorted[k];
    if (v === undefined) return undefined;
    if (options.thresholds === 'values') return v;
    let i = k;
    while (i > 0 && (sorted[i - 1] ?? v) === v) i--;
    const prev = sorted[i - 1];
    return prev === undefined ? undefined : prev + (v - prev) / 2;
  };

  const trees = Array.from({ length: options.trees }, () => {
    type Draft =
      | { kind: 'leaf'; value: number }
      | { kind: 'split'; feature: number; threshold: number; left: Draft; right: Draft };
    const grow = (members: number[], depth: number): Draft => {
      const stop = depth >= options.depth || members.length < 20 || (depth >= 2 && random() < 0.15);
      if (!stop) {
        const feature = Math.floor(random() * f);
        const threshold = splitValue(members, feature);
        if (threshold !== undefined) {
          const left = members.filter((r) => (z[r]?.[feature] ?? 0) < threshold);
          const right = members.filter((r) => !((z[r]?.[feature] ?? 0) < threshold));
          if (left.length > 0 && right.length > 0) {
            return { kind: 'split', feature, threshold, left: grow(left, depth + 1), right: grow(right, depth + 1) };
          }
        }
      }
      return { kind: 'leaf', value: gaussian(random) * ySd };
    };
    const sample = Array.from({ length: sampleRows }, () => Math.floor(random() * rows.x.length));
    const root = grow(sample, 0);
    // Flatten with the root at 0 and every other node at a shuffled position.
    const drafts: Draft[] = [];
    const collect = (d: Draft): void => {
      drafts.push(d);
      if (d.kind === 'split') {
        collect(d.left);
        collect(d.right);
      }
    };
    collect(root);
    const order = drafts.slice(1);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] as Draft, order[i] as Draft];
    }
    order.unshift(root);
    const index = new Map(order.map((d, i) => [d, i]));
    const nodes: TreeNode[] = order.map((d) =>
      d.kind === 'leaf'
        ? { kind: 'leaf', value: d.value }
        : {
            kind: 'split',
            feature: d.feature,
            threshold: d.threshold,
            left: index.get(d.left) ?? -1,
            right: index.get(d.right) ?? -1,
          },
    );
    return { nodes };
  });
  return {
    kind: 'trees',
    featureNames: rows.featureNames,
    standardizer,
    baseScore: yMean,
    learningRate: options.learningRate ?? 0.1,
    trees,
  };
}

/** Row-major float32 copy of the rows (what a float32 model receives). */
export function toFloat32(x: readonly (readonly number[])[]): Float32Array {
  const f = x[0]?.length ?? 0;
  const out = new Float32Array(x.length * f);
  x.forEach((row, r) => out.set(row, r * f));
  return out;
}

/** The rows as float32 values held in float64 numbers (the values a float32 model sees). */
export function roundedToFloat32(x: readonly (readonly number[])[]): number[][] {
  return x.map((row) => row.map((v) => Math.fround(v)));
}
