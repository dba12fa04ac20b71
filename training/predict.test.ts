import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LinearModel, TreeEnsembleModel } from './model-types.ts';
import { fitPersistence } from './models/persistence.ts';
import { predict, predictClose, standardize } from './predict.ts';

const names = ['a', 'b'];
const standardizer = { mean: [1, -2], scale: [2, 0.5] };

describe('predict', () => {
  it('persistence predicts a zero log return, i.e. the current close', () => {
    const model = fitPersistence(names);
    assert.equal(predict(model, [5, 6]), 0);
    assert.equal(predictClose(model, [5, 6], 28_000.5), 28_000.5);
  });

  it('linear: intercept + weights · standardized x', () => {
    const model: LinearModel = {
      kind: 'linear',
      featureNames: names,
      standardizer,
      weights: [0.5, -1],
      intercept: 0.1,
    };
    assert.deepEqual(standardize(standardizer, [3, -1]), [1, 2]);
    assert.equal(predict(model, [3, -1]), 0.1 + 0.5 * 1 - 1 * 2);
    assert.ok(Math.abs(predictClose(model, [3, -1], 100) - 100 * Math.exp(-1.4)) < 1e-12);
  });

  it('trees: baseScore + learningRate · Σ leaves, x[f] < threshold (standardized) goes left, equal goes right', () => {
    const model: TreeEnsembleModel = {
      kind: 'trees',
      featureNames: names,
      standardizer,
      baseScore: 0.01,
      learningRate: 0.5,
      trees: [
        {
          nodes: [
            { kind: 'split', feature: 1, threshold: 2, left: 1, right: 2 },
            { kind: 'leaf', value: -1 },
            { kind: 'split', feature: 0, threshold: 0, left: 3, right: 4 },
            { kind: 'leaf', value: 3 },
            { kind: 'leaf', value: 5 },
          ],
        },
        { nodes: [{ kind: 'leaf', value: 2 }] },
      ],
    };
    // z = [1, 1.5]: 1.5 < 2 → left leaf −1.
    assert.equal(predict(model, [3, -1.25]), 0.01 + 0.5 * (-1 + 2));
    // z = [1, 2]: equal to the threshold → right; z0 = 1 ≥ 0 → leaf 5.
    assert.equal(predict(model, [3, -1]), 0.01 + 0.5 * (5 + 2));
    // z = [−0.5, 3] → right, then z0 < 0 → leaf 3.
    assert.equal(predict(model, [0, -0.5]), 0.01 + 0.5 * (3 + 2));
  });

  it('refuses a vector of the wrong length and a malformed tree', () => {
    assert.throws(() => predict(fitPersistence(names), [1]), /expects 2 features/);
    const cyclic: TreeEnsembleModel = {
      kind: 'trees',
      featureNames: names,
      standardizer,
      baseScore: 0,
      learningRate: 1,
      trees: [{ nodes: [{ kind: 'split', feature: 0, threshold: 100, left: 0, right: 0 }] }],
    };
    assert.throws(() => predict(cyclic, [0, 0]), /cycle/);
    const dangling: TreeEnsembleModel = {
      ...cyclic,
      trees: [{ nodes: [{ kind: 'split', feature: 0, threshold: 0, left: 7, right: 7 }] }],
    };
    assert.throws(() => predict(dangling, [0, 0]), /does not exist/);
  });
});
