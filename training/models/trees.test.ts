import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TreeEnsembleModel, TreeNode } from '../model-types.ts';
import { predict, standardize } from '../predict.ts';
import { expandingWindowFolds } from '../splits.ts';
import { normal } from '../synthetic.ts';
import { seededRandom } from '../../lib/random.ts';
import { subset, type TrainingSet } from './common.ts';
import { binOf, fitTrees, fitTreesWithCurves, quantileEdges, tuneTrees } from './trees.ts';

/** y = −1 below x0 = 0.3, 2 above, plus noise; x1, x2 are irrelevant. */
function stepData(n: number, noise: number, seed: number): TrainingSet {
  const random = seededRandom(seed);
  const gauss = normal(random);
  const X = Array.from({ length: n }, () => [2 * random() - 1, gauss(), random() < 0.3 ? 0 : gauss()]);
  const y = X.map((x) => ((x[0] ?? 0) < 0.3 ? -1 : 2) + noise * gauss());
  return { featureNames: ['x0', 'x1', 'x2'], X, y };
}

function depth(nodes: readonly TreeNode[], index = 0): number {
  const node = nodes[index];
  if (node === undefined || node.kind === 'leaf') return 0;
  return 1 + Math.max(depth(nodes, node.left), depth(nodes, node.right));
}

function leafOf(model: TreeEnsembleModel, tree: number, x: readonly number[]): number {
  const z = standardize(model.standardizer, x);
  const nodes = model.trees[tree]?.nodes ?? [];
  let i = 0;
  for (;;) {
    const node = nodes[i];
    if (node === undefined) throw new Error('broken');
    if (node.kind === 'leaf') return i;
    i = (z[node.feature] ?? NaN) < node.threshold ? node.left : node.right;
  }
}

describe('gradient-boosted trees', () => {
  it('quantile bins: bin ≤ j exactly when the value is below edge j, ties kept together', () => {
    const random = seededRandom(4);
    const values = Array.from({ length: 5000 }, () => (random() < 0.4 ? 0 : random() - 0.5));
    const edges = quantileEdges(values, 16);
    // 15 quantile positions, about 6 of them inside the block of zeros, which yields one edge.
    assert.ok(edges.length >= 8 && edges.length <= 11, `${edges.length} edges`);
    for (let j = 1; j < edges.length; j += 1) assert.ok((edges[j] ?? NaN) > (edges[j - 1] ?? NaN));
    assert.ok(
      edges.every((e) => e !== 0),
      'an edge on a tied value would split the ties',
    );
    for (const v of [...values.slice(0, 500), ...edges]) {
      const bin = binOf(edges, v);
      for (let j = 0; j < edges.length; j += 1) assert.equal(bin <= j, v < (edges[j] ?? NaN));
    }
    assert.equal(quantileEdges([1, 1, 1, 1], 8).length, 0);
  });

  it('fits a step function: splits x0 at 0.3 and predicts both levels', () => {
    const data = stepData(4000, 0.1, 1);
    const model = fitTrees(data, { rounds: 150, maxDepth: 1, learningRate: 0.1, minLeaf: 20, maxBins: 128 });
    const root = model.trees[0]?.nodes[0];
    assert.ok(root?.kind === 'split');
    assert.equal(root.feature, 0);
    const rawThreshold = root.threshold * (model.standardizer.scale[0] ?? NaN) + (model.standardizer.mean[0] ?? NaN);
    assert.ok(Math.abs(rawThreshold - 0.3) < 0.02, `threshold ${rawThreshold}`);
    assert.ok(Math.abs(predict(model, [-0.5, 0, 0]) + 1) < 0.05);
    assert.ok(Math.abs(predict(model, [0.8, 0, 0]) - 2) < 0.05);
    assert.ok(Math.abs(model.baseScore - data.y.reduce((s, v) => s + v, 0) / data.y.length) < 1e-12);
  });

  it('routes rows in training exactly as predict() does, within depth and leaf-size limits', () => {
    const data = stepData(3000, 1, 2);
    const held = stepData(1000, 1, 3);
    const { model, curves } = fitTreesWithCurves(data, { rounds: 40, maxDepth: 3, minLeaf: 100 }, [held, data]);
    assert.equal(model.trees.length, 40);
    for (const [m, set] of [held, data].entries()) {
      const mae = set.X.reduce((s, x, i) => s + Math.abs(predict(model, x) - (set.y[i] ?? NaN)), 0) / set.X.length;
      const last = curves[m]?.[40] ?? NaN;
      assert.ok(Math.abs(mae - last) < 1e-12, `monitor ${m}: ${mae} vs ${last}`);
    }
    model.trees.forEach((tree, t) => {
      assert.ok(depth(tree.nodes) <= 3);
      const counts = new Map<number, number>();
      for (const x of data.X) counts.set(leafOf(model, t, x), (counts.get(leafOf(model, t, x)) ?? 0) + 1);
      for (const count of counts.values()) assert.ok(count >= 100, `tree ${t} has a leaf with ${count} rows`);
    });
  });

  it('the training loss falls round by round; round 0 is the mean', () => {
    const data = stepData(2000, 0.5, 5);
    const { curves } = fitTreesWithCurves(data, { rounds: 30, maxDepth: 2, minLeaf: 50 }, [data]);
    const curve = curves[0] ?? [];
    assert.equal(curve.length, 31);
    assert.ok((curve[30] ?? NaN) < (curve[0] ?? NaN) * 0.6);
  });

  it('CV stops early on noise and goes on for a learnable signal', () => {
    const time = (n: number) => Array.from({ length: n }, (_, i) => i * 60_000);
    const idx = (n: number) => Array.from({ length: n }, (_, i) => i);
    const signal = stepData(3000, 0.3, 7);
    const folds = expandingWindowFolds(time(3000), idx(3000), { folds: 3, embargoMinutes: 0 });
    const tunedSignal = tuneTrees(signal, folds, { depths: [1, 2], maxRounds: 100, minLeaf: 50 });
    assert.ok(tunedSignal.rounds >= 80, `signal: ${tunedSignal.rounds} rounds`);
    const random = seededRandom(8);
    const noise: TrainingSet = { ...signal, y: signal.y.map(() => random() - 0.5) };
    const tunedNoise = tuneTrees(noise, folds, { depths: [1, 2], maxRounds: 100, minLeaf: 50 });
    assert.ok(tunedNoise.rounds <= 20, `noise: ${tunedNoise.rounds} rounds`);
    assert.equal(tunedNoise.scores.length, 2);
  });

  it('early stopping: a fit stops patience rounds after its monitor’s best, and only when asked', () => {
    const signal = stepData(3000, 0.3, 9);
    const random = seededRandom(10);
    const noise: TrainingSet = { ...signal, y: signal.y.map(() => random() - 0.5) };
    const train = subset(
      noise,
      Array.from({ length: 2000 }, (_, i) => i),
    );
    const monitor = subset(
      noise,
      Array.from({ length: 1000 }, (_, i) => 2000 + i),
    );
    const options = { rounds: 200, maxDepth: 2, minLeaf: 50 };
    const stopped = fitTreesWithCurves(train, options, [monitor], { patience: 20 });
    const curve = stopped.curves[0] ?? [];
    const best = curve.indexOf(Math.min(...curve));
    assert.equal(curve.length - 1, best + 20, `best round ${best}, stopped after ${curve.length - 1}`);
    assert.equal(stopped.model.trees.length, curve.length - 1);
    const full = fitTreesWithCurves(train, options, [monitor]);
    assert.equal(full.model.trees.length, 200);
    assert.deepEqual(full.curves[0]?.slice(0, curve.length), curve);
  });

  it('absolute loss: round 0 is the median, and it beats squared loss on MAE under heavy-tailed noise', () => {
    // y = 0.5·sign(x0) plus noise that is small 90 % of the time and huge otherwise (as
    // one-minute returns are); the outliers are skewed upwards, so the mean is pulled off
    // the conditional median.
    const make = (n: number, seed: number): TrainingSet => {
      const random = seededRandom(seed);
      const gauss = normal(random);
      const X = Array.from({ length: n }, () => [2 * random() - 1, gauss()]);
      const y = X.map((x) => 0.5 * Math.sign(x[0] ?? 0) + (random() < 0.1 ? 20 * Math.abs(gauss()) : 0.1 * gauss()));
      return { featureNames: ['x0', 'x1'], X, y };
    };
    const train = make(6000, 21);
    const test = make(6000, 22);
    const sorted = [...train.y].sort((a, b) => a - b);
    const median = (sorted[2999]! + sorted[3000]!) / 2;
    assert.equal(fitTrees(train, { rounds: 0, maxDepth: 2, objective: 'absolute' }).baseScore, median);
    const options = { rounds: 150, maxDepth: 2, learningRate: 0.1, minLeaf: 50 };
    const mae = (model: TreeEnsembleModel) =>
      test.X.reduce((sum, x, i) => sum + Math.abs(predict(model, x) - (test.y[i] ?? NaN)), 0) / test.X.length;
    const absolute = mae(fitTrees(train, { ...options, objective: 'absolute' }));
    const squared = mae(fitTrees(train, options));
    assert.ok(absolute < 0.9 * squared, `absolute-loss MAE ${absolute} vs squared-loss MAE ${squared}`);
    // And it learned the step: close to ±0.5 on either side.
    const model = fitTrees(train, { ...options, objective: 'absolute' });
    assert.ok(Math.abs(predict(model, [0.5, 0]) - 0.5) < 0.1 && Math.abs(predict(model, [-0.5, 0]) + 0.5) < 0.1);
  });

  it('refuses bad options', () => {
    const data = stepData(100, 0.1, 9);
    assert.throws(() => fitTrees(data, { rounds: -1, maxDepth: 2 }), /rounds/);
    assert.throws(() => fitTrees(data, { rounds: 1, maxDepth: 2, maxBins: 300 }), /maxBins/);
  });
});
