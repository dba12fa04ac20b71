import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { predict } from '../predict.ts';
import { expandingWindowFolds } from '../splits.ts';
import { normal } from '../synthetic.ts';
import { seededRandom } from '../../lib/random.ts';
import type { TrainingSet } from './common.ts';
import { choleskySolve, fitRidge, tuneRidge } from './ridge.ts';

function linearData(
  n: number,
  weights: readonly number[],
  intercept: number,
  noise: number,
  seed: number,
): TrainingSet {
  const gauss = normal(seededRandom(seed));
  const X = Array.from({ length: n }, () => weights.map((_, f) => 3 * gauss() + f));
  const y = X.map((x) => intercept + x.reduce((s, v, f) => s + v * (weights[f] ?? 0), 0) + noise * gauss());
  return { featureNames: weights.map((_, f) => `f${f}`), X, y };
}

describe('ridge', () => {
  it('choleskySolve solves a symmetric positive definite system and refuses an indefinite one', () => {
    // A = MᵀM + I is symmetric positive definite; check A·x = b.
    const gauss = normal(seededRandom(1));
    const M = Array.from({ length: 10 }, () => Array.from({ length: 8 }, () => gauss()));
    const A = Array.from({ length: 8 }, (_, i) =>
      Array.from({ length: 8 }, (_, j) => M.reduce((s, row) => s + (row[i] ?? 0) * (row[j] ?? 0), i === j ? 1 : 0)),
    );
    const b = Array.from({ length: 8 }, () => gauss());
    const x = choleskySolve(A, b);
    A.forEach((row, i) => {
      const ax = row.reduce((s, v, j) => s + v * (x[j] ?? NaN), 0);
      assert.ok(Math.abs(ax - (b[i] ?? NaN)) < 1e-10, `row ${i}: ${ax} vs ${b[i]}`);
    });
    assert.deepEqual(
      choleskySolve(
        [
          [4, 0],
          [0, 16],
        ],
        [2, 3],
      ),
      [0.5, 0.1875],
    );
    assert.throws(
      () =>
        choleskySolve(
          [
            [1, 2],
            [2, 1],
          ],
          [1, 1],
        ),
      /positive definite/,
    );
  });

  it('recovers known weights and intercept (in raw feature units) with a negligible penalty', () => {
    const weights = [0.5, -2, 0, 1.25];
    const data = linearData(3000, weights, 0.3, 0.01, 11);
    const model = fitRidge(data, { lambda: 1e-10 });
    // Raw-space weights: w / scale; intercept: b − Σ w·mean/scale.
    const raw = model.weights.map((w, f) => w / (model.standardizer.scale[f] ?? NaN));
    raw.forEach((w, f) => assert.ok(Math.abs(w - (weights[f] ?? NaN)) < 1e-3, `w${f} = ${w}`));
    const intercept = model.intercept - raw.reduce((s, w, f) => s + w * (model.standardizer.mean[f] ?? NaN), 0);
    assert.ok(Math.abs(intercept - 0.3) < 2e-3, `intercept ${intercept}`);
    assert.ok(Math.abs(predict(model, [1, 1, 1, 1]) - (0.3 + 0.5 - 2 + 1.25)) < 5e-3);
  });

  it('shrinks the weights as lambda grows, towards the mean', () => {
    const data = linearData(500, [1, -1, 0.5], 0, 1, 2);
    let previous = Infinity;
    for (const lambda of [0, 0.1, 1, 10, 1000]) {
      const m = fitRidge(data, { lambda });
      const norm = Math.hypot(...m.weights);
      assert.ok(norm < previous, `lambda ${lambda}: ${norm}`);
      previous = norm;
    }
    const flat = fitRidge(data, { lambda: 1e9 });
    assert.ok(Math.abs(predict(flat, [5, 5, 5]) - data.y.reduce((s, v) => s + v, 0) / data.y.length) < 1e-6);
  });

  it('CV picks a small lambda for a real signal and a large one for pure noise', () => {
    const signal = linearData(2000, [1, -1, 0.5, 0, 0, 0], 0, 0.1, 5);
    const noise = linearData(300, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 1, 6);
    const folds = (n: number) =>
      expandingWindowFolds(
        Array.from({ length: n }, (_, i) => i * 60_000),
        Array.from({ length: n }, (_, i) => i),
        { folds: 4, embargoMinutes: 0 },
      );
    assert.ok(tuneRidge(signal, folds(2000)).lambda <= 0.01);
    assert.ok(tuneRidge(noise, folds(300)).lambda >= 10);
  });
});
