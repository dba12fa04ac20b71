import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCandleCsv } from '../lib/candle-csv.ts';
import { BTC_CANDLES, requireData } from '../test/support/data.ts';
import { buildDataset, indicatorSeries, MINUTE_MS } from './dataset.ts';
import { evaluateSeries, type EvaluateResult, type HorizonResult } from './evaluate.ts';
import { indicatorInputs } from './history.ts';
import { priceMetrics } from './metrics.ts';
import { formatReport, main, verdict } from './report.ts';
import { chronologicalSplit, DAY_MS } from './splits.ts';
import { syntheticCandles } from './synthetic.ts';

const FAST = { testDays: 1, validationDays: 1, folds: 3, treeDepths: [2], treeMaxRounds: 40, treeMinLeaf: 50 } as const;

function run(phi: number, seed: number): HorizonResult {
  const candles = syntheticCandles({ count: 4 * 1440, seed, phi, volatility: 5e-4 });
  return evaluateSeries('SYN/USD', indicatorSeries(candles), 1, FAST);
}

describe('evaluateSeries on synthetic markets', () => {
  const predictable = run(0.5, 1);
  const randomWalk = run(0, 2);

  it('finds a planted signal (AR(1) returns, φ = 0.5) and beats persistence on TEST', () => {
    assert.notEqual(predictable.winner, 'persistence');
    // Theory for Gaussian AR(1): MAE ratio √(1 − φ²) ≈ 0.87.
    assert.ok(predictable.test.maeRatio < 0.92, `ratio ${predictable.test.maeRatio}`);
    assert.equal(verdict(predictable), 'yes');
    assert.ok(predictable.test.directionalAccuracy > 0.6, `dir ${predictable.test.directionalAccuracy}`);
    const coverage = predictable.test.intervalCoverage;
    assert.ok(coverage > 0.86 && coverage < 0.94, `coverage ${coverage}`);
  });

  it('claims no significant gain on a random walk', () => {
    assert.notEqual(verdict(randomWalk), 'yes');
    assert.ok(randomWalk.test.maeRatio > 0.99, `ratio ${randomWalk.test.maeRatio}`);
  });

  it('keeps TEST to the final days, after VALIDATION and TRAIN, and selects by validation MAE', () => {
    const r = predictable;
    assert.equal(r.rows.test, 1440 - 1);
    assert.equal(Date.parse(r.periods.end) - Date.parse(r.periods.testStart), DAY_MS);
    assert.equal(Date.parse(r.periods.testStart) - Date.parse(r.periods.validationStart), DAY_MS);
    const best = Math.min(...r.candidates.map((c) => c.validation.mae));
    assert.equal(r.candidates.find((c) => c.name === r.winner)?.validation.mae, best);
    assert.deepEqual(
      r.candidates.map((c) => c.name),
      ['persistence', 'ridge', 'trees'],
    );
  });

  it('formats a report that names every pair, horizon and candidate', () => {
    const result: EvaluateResult = {
      settings: { horizons: [1], testDays: 1, validationDays: 1, alpha: 0.1, folds: 3 },
      pairs: [],
      results: [predictable, randomWalk],
      seconds: 1,
    };
    const text = formatReport(result);
    assert.match(text, /## TEST/);
    assert.match(text, /## VALIDATION/);
    assert.equal(text.split('\n').filter((l) => l.startsWith('| SYN/USD | 1m ')).length, 2 + 6);
    assert.match(text, /90% coverage/);
  });

  it('main rejects bad flags with exit code 2', async () => {
    assert.equal(await main(['--horizons', '0']), 2);
    assert.equal(await main(['--alpha', '1.5']), 2);
    assert.equal(await main(['--no-such-flag']), 2);
  });
});

describe('real BTC/USD candles', () => {
  it('persistence MAE over the last 7 days at 5 minutes is the mean |close(t+5) − close(t)| of the raw file', async () => {
    const minutes = await loadCandleCsv(requireData(BTC_CANDLES));
    const last = minutes[minutes.length - 1];
    assert.ok(last !== undefined);
    const end = last.time + MINUTE_MS;
    const series = indicatorSeries(indicatorInputs(minutes));
    const dataset = buildDataset(series, 5);
    const split = chronologicalSplit(
      dataset.rows.map((r) => r.openTime),
      { horizonMinutes: 5, end },
    );
    const testRows = split.test.map((i) => dataset.rows[i]).filter((r) => r !== undefined);
    const m = priceMetrics(testRows.map((r) => ({ close: r.close, futureClose: r.futureClose, predicted: 0 })));

    // Independently, from the raw rows.
    const byTime = new Map(minutes.map((x) => [x.time, x.close]));
    const diffs: number[] = [];
    for (const x of minutes) {
      const future = byTime.get(x.time + 5 * MINUTE_MS);
      if (x.time >= end - 7 * DAY_MS && future !== undefined) diffs.push(Math.abs(future - x.close));
    }
    assert.equal(m.n, diffs.length);
    const direct = diffs.reduce((s, v) => s + v, 0) / diffs.length;
    assert.ok(Math.abs(m.mae - direct) < 1e-9, `${m.mae} vs ${direct}`);
    assert.ok(m.mae > 23 && m.mae < 25, `persistence MAE ${m.mae}`);
  });
});
