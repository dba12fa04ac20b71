import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meanAbsoluteError, pairedDifference, priceMetrics } from './metrics.ts';
import { seededRandom } from '../lib/random.ts';

describe('priceMetrics', () => {
  it('persistence (ŷ = 0) has MAE equal to the mean |Δclose|, ratio 1', () => {
    const random = seededRandom(2);
    let close = 100;
    const rows = Array.from({ length: 1000 }, () => {
      const futureClose = close + Math.round((random() - 0.5) * 20) / 10;
      const row = { close, futureClose, predicted: 0 };
      close = futureClose;
      return row;
    });
    const m = priceMetrics(rows);
    const meanAbsChange = rows.reduce((s, r) => s + Math.abs(r.futureClose - r.close), 0) / rows.length;
    assert.equal(m.mae, meanAbsChange);
    assert.equal(m.baselineMae, meanAbsChange);
    assert.equal(m.maeRatio, 1);
    assert.equal(m.zeroPredictionShare, 1);
    assert.equal(m.directionalAccuracy, 0); // zero predictions call no direction
  });

  it('counts directions only over moves, a zero prediction as a miss, and reports the flat share', () => {
    const rows = [
      { close: 100, futureClose: 101, predicted: 0.01 }, // up, called up: hit
      { close: 100, futureClose: 99, predicted: 0.01 }, // down, called up: miss
      { close: 100, futureClose: 99, predicted: -0.002 }, // down, called down: hit
      { close: 100, futureClose: 102, predicted: 0 }, // up, no call: miss
      { close: 100, futureClose: 100, predicted: 0.01 }, // flat: excluded
      { close: 100, futureClose: 100, predicted: 0 }, // flat: excluded
    ];
    const m = priceMetrics(rows);
    assert.equal(m.movingRows, 4);
    assert.equal(m.directionalAccuracy, 2 / 4);
    assert.equal(m.flatShare, 2 / 6);
    assert.equal(m.zeroPredictionShare, 2 / 6);
    assert.equal(m.majorityShare, 2 / 4);
    assert.ok(Number.isNaN(m.intervalCoverage));
    const expectedMae =
      rows.reduce((s, r) => s + Math.abs(r.close * Math.exp(r.predicted) - r.futureClose), 0) / rows.length;
    assert.ok(Math.abs(m.mae - expectedMae) < 1e-12);
    assert.equal(m.baselineMae, (1 + 1 + 1 + 2) / 6);
  });

  it('measures interval coverage and width in price', () => {
    const m = priceMetrics([
      { close: 100, futureClose: 100.5, predicted: 0, lower: -0.01, upper: 0.01 },
      { close: 100, futureClose: 102, predicted: 0, lower: -0.01, upper: 0.01 },
    ]);
    assert.equal(m.intervalCoverage, 0.5);
    assert.ok(Math.abs(m.meanIntervalWidth - 100 * (Math.exp(0.01) - Math.exp(-0.01))) < 1e-9);
  });
});

describe('pairedDifference and meanAbsoluteError', () => {
  it('gives the mean difference and a block standard error', () => {
    const a = [3, 3, 5, 5, 4, 4, 6, 6];
    const b = [1, 1, 1, 1, 1, 1, 1, 1];
    const d = pairedDifference(a, b, 2);
    assert.equal(d.mean, 3.5);
    assert.equal(d.blocks, 4);
    // Block means 2, 4, 3, 5: sample sd √(5/3), SE = sd / 2.
    assert.ok(Math.abs(d.stdError - Math.sqrt(5 / 3) / 2) < 1e-12);
    assert.ok(Number.isNaN(pairedDifference([1, 2], [0, 0], 5).stdError));
    assert.equal(meanAbsoluteError([1, -1, 3], [0, 0, 0]), 5 / 3);
    assert.throws(() => meanAbsoluteError([1], [1, 2]), /length/);
  });
});
