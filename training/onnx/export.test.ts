import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import type { LinearModel, TrainedModel, TreeEnsembleModel } from '../model-types.ts';
import { predict } from '../predict.ts';
import { ONNX_FORMAT_VERSION, readOnnxMetadata, toOnnx, type OnnxExportOptions } from './export.ts';
import { loadOnnxModel } from './session.ts';

const { onnx } = onnxProto;
const VARIANTS: readonly OnnxExportOptions[] = [
  {},
  { inputType: 'float64' },
  { compute: 'float32' },
  { inputType: 'float64', compute: 'float32' },
];

/** Runs rows through the exported model with each export variant; returns one output array per variant. */
async function runAll(model: TrainedModel, rows: number[][]): Promise<number[][]> {
  const results: number[][] = [];
  for (const options of VARIANTS) {
    const onnxModel = await loadOnnxModel(toOnnx(model, {}, options));
    try {
      results.push(Array.from(await onnxModel.predict(rows)));
    } finally {
      await onnxModel.close();
    }
  }
  return results;
}

const names = ['a', 'b', 'c'];

describe('hand-made models give exact outputs', () => {
  it('persistence: zeros [N, 1] for any input, NaN and ±Infinity included', async () => {
    const model: TrainedModel = { kind: 'persistence', featureNames: names };
    const rows = [
      [1, 2, 3],
      [NaN, Infinity, -Infinity],
      [-5, 0, 1e30],
    ];
    for (const out of await runAll(model, rows)) assert.deepEqual(out, [0, 0, 0]);
  });

  it('linear: intercept + w · (x - mean) / scale', async () => {
    const model: LinearModel = {
      kind: 'linear',
      featureNames: names,
      standardizer: { mean: [1, -2, 0.5], scale: [2, 4, 0.25] },
      weights: [0.5, -1, 0.125],
      intercept: 0.25,
    };
    const rows = [
      [1, -2, 0.5], // z = 0 → intercept
      [3, 2, 0.75], // z = [1, 1, 1] → 0.25 + 0.5 - 1 + 0.125
      [-3, -10, 0], // z = [-2, -2, -2] → 0.25 - 1 + 2 - 0.25
    ];
    const expected = [0.25, -0.125, 1];
    assert.deepEqual(
      rows.map((r) => predict(model, r)),
      expected,
    );
    for (const out of await runAll(model, rows)) assert.deepEqual(out, expected);
  });

  // Stump on feature 1 with z = (x - 1) / 2 and threshold 0.25: the raw split point is x = 1.5.
  const stump: TreeEnsembleModel = {
    kind: 'trees',
    featureNames: names,
    standardizer: { mean: [0, 1, 0], scale: [1, 2, 1] },
    baseScore: 10,
    learningRate: 1,
    trees: [
      {
        nodes: [
          { kind: 'split', feature: 1, threshold: 0.25, left: 1, right: 2 },
          { kind: 'leaf', value: 1 },
          { kind: 'leaf', value: 2 },
        ],
      },
    ],
  };

  it('trees: BRANCH_LT takes the true branch (left) when z < threshold, right at or above it and for NaN', async () => {
    const below = 1.5 - 2 ** -23; // the largest float32 below 1.5
    const above = 1.5 + 2 ** -23;
    const rows = [
      [0, below, 0],
      [0, 1.5, 0], // z exactly the threshold: not less → right
      [0, above, 0],
      [0, NaN, 0],
      [0, -Infinity, 0],
      [0, Infinity, 0],
    ];
    const expected = [11, 12, 12, 12, 11, 12];
    assert.deepEqual(
      rows.map((r) => predict(stump, r)),
      expected,
    );
    for (const out of await runAll(stump, rows)) assert.deepEqual(out, expected);
  });

  it('trees: a threshold that is not a float32 splits exactly where the float64 reference does', async () => {
    // 0.1 is not a float32; with the graph in float64 it stays 0.1.
    const model: TreeEnsembleModel = {
      ...stump,
      standardizer: { mean: [0, 0, 0], scale: [1, 1, 1] },
      trees: [
        {
          nodes: [
            { kind: 'split', feature: 0, threshold: 0.1, left: 1, right: 2 },
            { kind: 'leaf', value: 1 },
            { kind: 'leaf', value: 2 },
          ],
        },
      ],
    };
    const rows = [
      [0.09999999999999999, 0, 0],
      [0.1, 0, 0],
      [Math.fround(0.1), 0, 0],
      [0.09999999, 0, 0],
    ];
    const reference64 = rows.map((r) => predict(model, r));
    const reference32 = rows.map((r) => predict(model, r.map(Math.fround)));
    assert.deepEqual(reference64, [11, 12, 12, 11]);
    assert.deepEqual(reference32, [12, 12, 12, 11]); // 0.09999999999999999 rounds to float32 0.10000000149 > 0.1
    const onnxModel = await loadOnnxModel(toOnnx(model, {}, { inputType: 'float64' }));
    assert.deepEqual(Array.from(await onnxModel.predict(rows)), reference64);
    await onnxModel.close();
    const onnx32 = await loadOnnxModel(toOnnx(model));
    assert.deepEqual(Array.from(await onnx32.predict(rows)), reference32);
    await onnx32.close();
  });

  it('trees: baseScore + learningRate · Σ leaves over trees with nodes in any order and single-leaf trees', async () => {
    const model: TreeEnsembleModel = {
      kind: 'trees',
      featureNames: names,
      standardizer: { mean: [0, 0, 0], scale: [1, 1, 1] },
      baseScore: -0.5,
      learningRate: 0.5,
      trees: [
        {
          // root splits c, its left child (at index 4) splits a; children stored out of order
          nodes: [
            { kind: 'split', feature: 2, threshold: 0, left: 4, right: 1 },
            { kind: 'leaf', value: 8 },
            { kind: 'leaf', value: 2 },
            { kind: 'leaf', value: 4 },
            { kind: 'split', feature: 0, threshold: -1, left: 2, right: 3 },
          ],
        },
        { nodes: [{ kind: 'leaf', value: 1 }] },
        {
          nodes: [
            { kind: 'split', feature: 1, threshold: 3, left: 2, right: 1 },
            { kind: 'leaf', value: -16 },
            { kind: 'leaf', value: 0.25 },
          ],
        },
      ],
    };
    const rows = [
      [-2, 0, -1], // 2 + 1 + 0.25 → -0.5 + 0.5 · 3.25
      [-1, 3, -1], // 4 + 1 - 16
      [5, 5, 0], // 8 + 1 - 16
    ];
    const expected = [1.125, -6, -4];
    assert.deepEqual(
      rows.map((r) => predict(model, r)),
      expected,
    );
    for (const out of await runAll(model, rows)) assert.deepEqual(out, expected);
  });

  it('trees: an empty ensemble predicts baseScore', async () => {
    const model: TreeEnsembleModel = { ...stump, trees: [] };
    for (const out of await runAll(model, [[0, 0, 0]])) assert.deepEqual(out, [10]);
  });
});

describe('the ONNX model', () => {
  const linear: LinearModel = {
    kind: 'linear',
    featureNames: names,
    standardizer: { mean: [0, 0, 0], scale: [1, 1, 1] },
    weights: [1, 2, 3],
    intercept: 0,
  };

  it('declares IR 8, opset 13 and ai.onnx.ml 3 (trees only), input features [N, F] and output log_return [N, 1]', () => {
    const tree: TreeEnsembleModel = {
      kind: 'trees',
      featureNames: names,
      standardizer: linear.standardizer,
      baseScore: 0,
      learningRate: 1,
      trees: [],
    };
    const forTrees = onnx.ModelProto.decode(toOnnx(tree));
    assert.equal(Number(forTrees.irVersion), 8);
    assert.deepEqual(
      forTrees.opsetImport.map((o) => [o.domain, Number(o.version)]),
      [
        ['', 13],
        ['ai.onnx.ml', 3],
      ],
    );
    assert.deepEqual(
      forTrees.graph?.node?.map((n) => n.opType),
      ['Cast', 'Sub', 'Div', 'TreeEnsembleRegressor'],
    );
    const forLinear = onnx.ModelProto.decode(toOnnx(linear));
    assert.deepEqual(
      forLinear.opsetImport.map((o) => [o.domain, Number(o.version)]),
      [['', 13]],
    );
    assert.deepEqual(
      forLinear.graph?.node?.map((n) => n.opType),
      ['Cast', 'Sub', 'Div', 'MatMul', 'Add', 'Cast'],
    );
    const input = forLinear.graph?.input?.[0];
    assert.equal(input?.name, 'features');
    assert.equal(input?.type?.tensorType?.elemType, onnx.TensorProto.DataType.FLOAT);
    assert.deepEqual(
      input?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue)),
      ['N', 3],
    );
    const output = forLinear.graph?.output?.[0];
    assert.equal(output?.name, 'log_return');
    assert.equal(output?.type?.tensorType?.elemType, onnx.TensorProto.DataType.FLOAT);
    assert.deepEqual(
      output?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue)),
      ['N', 1],
    );
  });

  it('carries its metadata', () => {
    const bytes = toOnnx(linear, { horizonMinutes: 5, pair: 'BTC/USD' }, { inputType: 'float64' });
    assert.deepEqual(readOnnxMetadata(bytes), {
      formatVersion: ONNX_FORMAT_VERSION,
      kind: 'linear',
      featureNames: names,
      inputType: 'float64',
      computeType: 'float64',
      horizonMinutes: 5,
      pair: 'BTC/USD',
    });
    const props = Object.fromEntries(onnx.ModelProto.decode(bytes).metadataProps.map((p) => [p.key, p.value]));
    assert.equal(props['tickcast.feature_names'], JSON.stringify(names));
    assert.equal(props['tickcast.format_version'], '1');
    const bare = readOnnxMetadata(toOnnx({ kind: 'persistence', featureNames: names }));
    assert.equal(bare.horizonMinutes, undefined);
    assert.equal(bare.kind, 'persistence');
  });

  it('readOnnxMetadata refuses a model without tickcast metadata', () => {
    const foreign = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: 'other' })).finish();
    assert.throws(() => readOnnxMetadata(foreign), /not a tickcast ONNX model/);
  });

  it('refuses inconsistent models', () => {
    assert.throws(() => toOnnx({ ...linear, weights: [1, 2] }), /2 weights for 3 features/);
    assert.throws(() => toOnnx({ ...linear, standardizer: { mean: [0, 0, 0], scale: [1, 0, 1] } }), /scale/);
    assert.throws(() => toOnnx({ kind: 'persistence', featureNames: [] }), /at least one feature/);
    assert.throws(() => toOnnx(linear, { horizonMinutes: 0 }), /horizonMinutes/);
    const tree = (nodes: TreeEnsembleModel['trees'][number]['nodes']): TreeEnsembleModel => ({
      kind: 'trees',
      featureNames: names,
      standardizer: linear.standardizer,
      baseScore: 0,
      learningRate: 1,
      trees: [{ nodes }],
    });
    assert.throws(
      () => toOnnx(tree([{ kind: 'split', feature: 3, threshold: 0, left: 1, right: 1 }])),
      /feature 3 of 3/,
    );
    assert.throws(
      () => toOnnx(tree([{ kind: 'split', feature: 0, threshold: 0, left: 1, right: 2 }])),
      /does not exist/,
    );
    assert.throws(
      () => toOnnx(tree([{ kind: 'split', feature: 0, threshold: 0, left: 0, right: 0 }])),
      /reached twice/,
    );
    assert.throws(() => toOnnx(tree([])), /no nodes/);
  });
});
