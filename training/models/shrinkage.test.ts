import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrainedModel } from '../model-types.ts';
import { predict } from '../predict.ts';
import { chooseShrinkage, shrinkModel } from './shrinkage.ts';

const standardizer = { mean: [1, -2], scale: [2, 0.5] };
const MODELS: readonly TrainedModel[] = [
  { kind: 'linear', featureNames: ['a', 'b'], standardizer, weights: [0.3, -0.7], intercept: 0.05 },
  {
    kind: 'trees',
    featureNames: ['a', 'b'],
    standardizer,
    baseScore: 0.02,
    learningRate: 0.1,
    trees: [
      {
        nodes: [
          { kind: 'split', feature: 1, threshold: 0.2, left: 1, right: 2 },
          { kind: 'leaf', value: -0.4 },
          { kind: 'leaf', value: 0.9 },
        ],
      },
    ],
  },
];

describe('shrinkage toward persistence', () => {
  it('scales every kind of model’s predicted log return by the factor, exactly', () => {
    for (const model of MODELS) {
      for (const x of [
        [0, 0],
        [3, -1.5],
        [-2, -2.2],
      ]) {
        const shrunk = predict(shrinkModel(model, 0.25), x);
        assert.ok(Math.abs(shrunk - 0.25 * predict(model, x)) < 1e-15, `${model.kind} at ${x.join()}`);
      }
    }
    const persistence: TrainedModel = { kind: 'persistence', featureNames: ['a'] };
    assert.equal(shrinkModel(persistence, 0.5), persistence);
    assert.throws(() => shrinkModel(persistence, 0), /factor/);
  });

  it('chooses the factor with the lowest price MAE, no shrinkage on a tie', () => {
    // The model says +2 % where the price rose 1 %: half of it is right.
    const rows = [
      { close: 100, futureClose: 100 * Math.exp(0.01) },
      { close: 50, futureClose: 50 * Math.exp(-0.01) },
    ];
    assert.equal(chooseShrinkage([0.02, -0.02], rows).factor, 0.5);
    // Predicting exactly: no shrinkage.
    assert.equal(chooseShrinkage([0.01, -0.01], rows).factor, 1);
    // Predicting 0 (persistence): every factor ties, and 1 wins.
    assert.equal(chooseShrinkage([0, 0], rows).factor, 1);
  });
});
