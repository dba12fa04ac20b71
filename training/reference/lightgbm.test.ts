// Needs the LightGBM venv: scripts/lightgbm-venv creates it on first use (about 15 s, cached).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { seededRandom } from '../../lib/random.ts';
import { crossAssetDatasetOptions } from '../cross-asset.ts';
import { indicatorSeries, MINUTE_MS } from '../dataset.ts';
import { evaluateSeries, evaluateSeriesWithHoldout } from '../evaluate.ts';
import { formatReport } from '../report.ts';
import { normal, syntheticCandles } from '../synthetic.ts';
import { lightgbmPython, runReferenceScript } from './lightgbm.ts';

const FAST = { testDays: 1, validationDays: 1, folds: 3, treeDepths: [2], treeMaxRounds: 40, treeMinLeaf: 50 } as const;

describe('LightGBM reference', () => {
  it('finds a planted AR(1) signal (φ = 0.5) on TEST with each loss, beside our trees, and the report shows both', () => {
    const candles = syntheticCandles({ count: 4 * 1440, seed: 1, phi: 0.5, volatility: 5e-4 });
    const { result } = evaluateSeriesWithHoldout('SYN/USD', indicatorSeries(candles), 1, {
      ...FAST,
      reference: 'lightgbm',
    });
    assert.ok(result.reference !== null);
    assert.deepEqual(
      result.reference.map((c) => [c.candidate, c.lightgbm.objective]),
      [
        ['median-trees', 'l1'],
        ['trees', 'l2'],
      ],
    );
    const text = formatReport({
      settings: { horizons: [1], testDays: 1, validationDays: 1, alpha: 0.1, folds: 3 },
      pairs: [],
      results: [result],
      seconds: 1,
    });
    assert.match(text, /## Reference: LightGBM/);
    for (const { candidate, ours, lightgbm } of result.reference) {
      // The oracle's gain over persistence is about 14% of MAE (evaluate.test.ts); a model
      // that finds the signal keeps most of it.
      assert.ok(lightgbm.maeRatio < 0.92, `LightGBM ${lightgbm.objective} ratio ${lightgbm.maeRatio}`);
      assert.ok(lightgbm.t <= -2, `LightGBM ${lightgbm.objective} t ${lightgbm.t}`);
      assert.equal(lightgbm.depth, 2);
      assert.ok(lightgbm.rounds >= 1 && lightgbm.rounds <= FAST.treeMaxRounds, `rounds ${lightgbm.rounds}`);
      // Same rows, same persistence: the two ratios are on one scale, and the trees are close.
      assert.ok(Math.abs(ours.mae / lightgbm.mae - 1) < 0.02, `${candidate} ${ours.mae}, LightGBM ${lightgbm.mae}`);
      assert.ok(Math.abs(ours.mae / ours.maeRatio - lightgbm.mae / lightgbm.maeRatio) < 1e-9, 'persistence differs');
      const row = `\\| SYN/USD \\| 1m +\\| ${candidate} +\\| ${lightgbm.objective} +\\| ${ours.mae.toFixed(4)} +\\| ${lightgbm.mae.toFixed(4)} `;
      assert.match(text, new RegExp(row));
    }
  });

  it('gives each candidate its own inputs: only median-trees+partner sees the partner that leads', () => {
    // ETH/USD's return over minute t + 1 is 0.6 × BTC/USD's over minute t plus noise: only the
    // partner's inputs predict it (as in cross-asset.test.ts).
    const btc = syntheticCandles({ count: 4 * 1440, seed: 5, start: Date.UTC(2024, 0, 1) });
    const gauss = normal(seededRandom(6));
    let close = 2_000;
    const eth = btc.map((b, i) => {
      const previous = btc[i - 1];
      const lead = previous === undefined ? 0 : Math.log(previous.close / previous.open);
      const open = close;
      close = open * Math.exp(0.6 * lead + 5e-4 * gauss());
      return { openTime: b.openTime, open, high: Math.max(open, close), low: Math.min(open, close), close, volume: 1 };
    });
    assert.equal(eth[1]?.openTime, Date.UTC(2024, 0, 1) + MINUTE_MS);
    const result = evaluateSeries('ETH/USD', indicatorSeries(eth), 1, {
      ...FAST,
      crossAsset: crossAssetDatasetOptions(indicatorSeries(btc)),
      reference: 'lightgbm',
    });
    const by = new Map((result.reference ?? []).map((c) => [c.candidate, c]));
    assert.deepEqual([...by.keys()], ['median-trees', 'median-trees+partner', 'trees']);
    const partner = by.get('median-trees+partner')?.lightgbm;
    assert.ok(partner !== undefined && partner.maeRatio < 0.95, `LightGBM with the partner: ${partner?.maeRatio}`);
    for (const own of ['median-trees', 'trees'] as const) {
      const ratio = by.get(own)?.lightgbm.maeRatio ?? NaN;
      assert.ok(ratio > 0.99, `LightGBM like ${own}, own inputs only: ratio ${ratio}`);
    }
  });

  describe('malformed input', () => {
    const directory = mkdtempSync(join(tmpdir(), 'tickcast-lightgbm-test-'));
    after(() => rmSync(directory, { recursive: true, force: true }));
    const python = lightgbmPython();
    const spec = {
      features: 2,
      rows: { train: 10, validation: 3, test: 3 },
      folds: [{ fit: [0, 1, 2, 3, 4], validate: [5, 6, 7, 8, 9] }],
      objective: 'l1',
      depths: [2],
      maxRounds: 5,
      learningRate: 0.05,
      minLeaf: 1,
      l2: 10,
      maxBins: 64,
      patience: 50,
      threads: 1,
    };
    const write = (overrides: Record<string, unknown>, trainRows = 10): void => {
      writeFileSync(join(directory, 'input.json'), JSON.stringify({ ...spec, ...overrides }));
      writeFileSync(join(directory, 'train_x.f64'), new Float64Array(trainRows * 2).fill(1));
      writeFileSync(join(directory, 'train_y.f64'), new Float64Array(10));
      writeFileSync(join(directory, 'validation_x.f64'), new Float64Array(6));
      writeFileSync(join(directory, 'test_x.f64'), new Float64Array(6));
    };
    const TIMEOUT_MS = 60_000;

    it('reports a feature file of the wrong size by name, exit 2, without hanging', () => {
      write({}, 9);
      assert.throws(
        () => runReferenceScript(python, directory, TIMEOUT_MS),
        /exited 2: lightgbm_reference: train_x\.f64 has 144 bytes, expected 10 rows x 2 x 8 = 160/,
      );
    });

    it('reports a fold index outside TRAIN', () => {
      write({ folds: [{ fit: [0, 1], validate: [10] }] });
      assert.throws(
        () => runReferenceScript(python, directory, TIMEOUT_MS),
        /exited 2: .*fold index is out of range 0\.\.9/,
      );
    });

    it('stops a run that exceeds its timeout, saying so', () => {
      write({});
      assert.throws(
        () => runReferenceScript(python, directory, 1),
        /lightgbm_reference\.py did not finish within 1 ms/,
      );
    });

    it('reports a missing key in input.json', () => {
      write({ objective: undefined });
      assert.throws(
        () => runReferenceScript(python, directory, TIMEOUT_MS),
        /exited 2: .*input\.json lacks objective$/,
      );
    });
  });
});
