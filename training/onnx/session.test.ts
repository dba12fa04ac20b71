import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LinearModel } from '../model-types.ts';
import { predict } from '../predict.ts';
import { toOnnx } from './export.ts';
import { loadOnnxModel } from './session.ts';

const model: LinearModel = {
  kind: 'linear',
  featureNames: ['a', 'b'],
  standardizer: { mean: [1, 2], scale: [2, 4] },
  weights: [0.5, -0.25],
  intercept: 0.125,
};
const rows = Array.from({ length: 1000 }, (_, i) => [i / 8, (i % 7) * 0.5]);
const expected = rows.map((r) => predict(model, r));

describe('loadOnnxModel', () => {
  it('exposes the feature names and metadata', async () => {
    const m = await loadOnnxModel(toOnnx(model, { horizonMinutes: 15, pair: 'ETH/USD' }));
    assert.deepEqual(m.featureNames, ['a', 'b']);
    assert.equal(m.meta.kind, 'linear');
    assert.equal(m.meta.horizonMinutes, 15);
    assert.equal(m.meta.pair, 'ETH/USD');
    await m.close();
  });

  it('predicts from number[][], Float32Array and Float64Array alike, in batches of maxBatchRows', async () => {
    for (const inputType of ['float32', 'float64'] as const) {
      const whole = await loadOnnxModel(toOnnx(model, {}, { inputType }));
      const batched = await loadOnnxModel(toOnnx(model, {}, { inputType }), { maxBatchRows: 64 });
      const f32 = Float32Array.from(rows.flat());
      const f64 = Float64Array.from(rows.flat());
      for (const m of [whole, batched]) {
        for (const input of [rows, f32, f64]) {
          const out = await m.predict(input);
          assert.equal(out.length, rows.length);
          assert.deepEqual(Array.from(out), expected); // every value here is exact in float32
        }
        // n limits the rows read
        assert.deepEqual(Array.from(await m.predict(f32, 3)), expected.slice(0, 3));
        assert.deepEqual(Array.from(await m.predict(rows, 3)), expected.slice(0, 3));
        assert.deepEqual(Array.from(await m.predict([], 0)), []);
      }
      await whole.close();
      await batched.close();
    }
  });

  it('rejects malformed input and use after close', async () => {
    const m = await loadOnnxModel(toOnnx(model));
    await assert.rejects(m.predict([[1, 2, 3]]), /row 0 has 3 features, the model takes 2/);
    await assert.rejects(m.predict(new Float32Array(3)), /rows of 2 features/);
    await assert.rejects(m.predict(new Float32Array(4), 3), /rows of 2 features/);
    await m.close();
    await m.close(); // idempotent
    await assert.rejects(m.predict(rows), /closed/);
  });
});
