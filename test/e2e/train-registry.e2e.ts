/**
 * Training against the real MLflow registry: runs, artifacts, versions and the
 * champion/challenger gate, then the predictor following the champion alias.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MlflowRegistry } from '../../registry/mlflow.ts';
import { indicatorSeries } from '../../training/dataset.ts';
import { syntheticCandles } from '../../training/synthetic.ts';
import { trainAndRegister, type TrainOutcome } from '../../training/train.ts';
import { Champions } from '../../streams/predictor/champions.ts';
import { INTERVAL_METRIC, ONNX_ARTIFACT } from '../../registry/model-names.ts';
import { loadOnnxModel } from '../../training/onnx/session.ts';
import { predict } from '../../training/predict.ts';
import { featureVector } from '../../training/features.ts';
import { testLogger } from '../support/services.ts';

// A market with a planted, learnable signal (AR(1) one-minute returns) and a pure random
// walk, each named as its own pair so every test run registers fresh models.
const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const SIGNAL_PAIR = `S${suffix}/USD`;
const NOISE_PAIR = `N${suffix}/USD`;
const signal = indicatorSeries(syntheticCandles({ count: 4 * 1440, seed: 11, phi: 0.5, volatility: 5e-4 }));
const noise = indicatorSeries(syntheticCandles({ count: 4 * 1440, seed: 12, phi: 0, volatility: 5e-4 }));
const settings = { testDays: 1, validationDays: 1, folds: 3, treeDepths: [2], treeMaxRounds: 40, treeMinLeaf: 50 };

describe('training with the MLflow registry', () => {
  let registry: MlflowRegistry;
  let first: TrainOutcome;
  let second: TrainOutcome;
  let randomWalk: TrainOutcome;

  before(async () => {
    const uri = process.env['MLFLOW_TRACKING_URI'];
    if (!uri) throw new Error('needs MLflow: run through `npm test` or `scripts/with-services`');
    registry = new MlflowRegistry({ trackingUri: uri });
    first = await trainAndRegister({ registry, pair: SIGNAL_PAIR, horizonMinutes: 1, series: signal, settings });
    second = await trainAndRegister({ registry, pair: SIGNAL_PAIR, horizonMinutes: 1, series: signal, settings });
    randomWalk = await trainAndRegister({ registry, pair: NOISE_PAIR, horizonMinutes: 1, series: noise, settings });
  });

  it('promotes a model that beats persistence on the holdout to champion', async () => {
    assert.equal(first.alias, 'champion', first.reason);
    assert.ok(first.result.test.mae < first.result.test.baselineMae);
    const champion = await registry.getVersionByAlias(first.modelName, 'champion');
    assert.equal(champion?.version, first.version);
    assert.equal(champion?.metrics['mae'], first.result.test.mae);
    assert.equal(champion?.metrics['baseline_mae'], first.result.test.baselineMae);
    assert.ok((champion?.metrics[INTERVAL_METRIC] ?? 0) > 0);
  });

  it('keeps a retrained version that does not beat the champion on the same holdout as challenger', async () => {
    assert.equal(second.alias, 'challenger');
    // The champion was re-scored through its ONNX graph on the same TEST rows: the same model, so the same MAE.
    assert.ok(Math.abs((second.championMae ?? Infinity) - first.result.test.mae) < 1e-6, String(second.championMae));
    assert.match(second.reason, /does not beat champion v\d+ on the same holdout/);
    assert.equal((await registry.getVersionByAlias(first.modelName, 'champion'))?.version, first.version);
  });

  it('never promotes a model on a random walk, and says why', async () => {
    assert.equal(randomWalk.alias, 'challenger');
    assert.match(randomWalk.reason, /does not beat persistence/);
    assert.equal(await registry.getVersionByAlias(randomWalk.modelName, 'champion'), null);
  });

  it('stores an ONNX graph that reproduces the trained model', async () => {
    const version = await registry.getVersion(first.modelName, first.version);
    const bytes = await registry.downloadArtifact(version!.runId!, ONNX_ARTIFACT);
    const onnx = await loadOnnxModel(bytes!);
    try {
      const rows = signal.slice(-200).flatMap((p) => {
        const x = featureVector(p);
        return x ? [x] : [];
      });
      const out = await onnx.predict(rows);
      const worst = Math.max(...rows.map((x, i) => Math.abs((out[i] ?? NaN) - predict(first.result.model, x))));
      assert.ok(worst <= 1e-5, `max |onnx - ts| = ${worst}`);
    } finally {
      await onnx.close();
    }
  });

  it('the predictor loads the champion and swaps when the alias moves', async () => {
    const champions = new Champions(registry, { pairs: [SIGNAL_PAIR], horizons: [1], pollMs: 60_000 }, testLogger);
    try {
      await champions.poll();
      assert.equal(champions.get(SIGNAL_PAIR, 1)?.version, first.version);
      await registry.setAlias(first.modelName, 'champion', second.version);
      await champions.poll();
      assert.equal(champions.get(SIGNAL_PAIR, 1)?.version, second.version);
    } finally {
      await champions.stop();
    }
  });
});
