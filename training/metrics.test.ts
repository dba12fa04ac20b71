import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dieboldMariano, meanAbsoluteError, priceMetrics } from './metrics.ts';
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

describe('meanAbsoluteError', () => {
  it('averages absolute differences and refuses unequal lengths', () => {
    assert.equal(meanAbsoluteError([1, -1, 3], [0, 0, 0]), 5 / 3);
    assert.throws(() => meanAbsoluteError([1], [1, 2]), /length/);
  });
});

/** A seeded normal sampler (Box–Muller over a 32-bit LCG), so the figures below are exact. */
function normals(seed: number, n: number): number[] {
  let state = seed >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

describe('dieboldMariano', () => {
  it('computes the Newey–West variance with Bartlett weights and the HLN correction, by hand', () => {
    // d = a − b = [1, 3, 2, 4, 0, 2]: mean 2; deviations [-1, 1, 0, 2, -2, 0].
    const a = [2, 4, 3, 5, 1, 3];
    const b = [1, 1, 1, 1, 1, 1];
    const r = dieboldMariano(a, b, 3);
    // Lag max(h − 1 = 2, ⌈6^(1/3)⌉ = 2) = 2.
    assert.equal(r.lag, 2);
    assert.equal(r.mean, 2);
    // γ0 = 10/6; γ1 = (−1 + 0 + 0 − 4 + 0)/6 = −5/6; γ2 = (0 + 2 + 0 + 0)/6 = 2/6.
    const variance = 10 / 6 + 2 * (2 / 3) * (-5 / 6) + 2 * (1 / 3) * (2 / 6);
    assert.ok(Math.abs(r.stdError - Math.sqrt(variance / 6)) < 1e-12, String(r.stdError));
    const hln = Math.sqrt((6 + 1 - 6 + 6 / 6) / 6);
    assert.ok(Math.abs(r.t - (2 / Math.sqrt(variance / 6)) * hln) < 1e-12, String(r.t));
  });

  it('finds no difference between two equally good forecasts (|t| < 2) and a real one (t ≤ −2)', () => {
    const noise = normals(7, 5000);
    const other = normals(8, 5000);
    const lossA = noise.map(Math.abs);
    const lossB = other.map(Math.abs);
    assert.ok(Math.abs(dieboldMariano(lossA, lossB, 1).t) < 2);
    const better = lossA.map((v) => v * 0.95);
    assert.ok(dieboldMariano(better, lossB, 1).t <= -2);
  });

  it('widens the standard error for overlapping horizons: moving-average losses are not independent rows', () => {
    // d_t = sum of the last 15 shocks: MA(14), as 15-minute forecasts made every minute are.
    const shocks = normals(11, 6000);
    const d = shocks.slice(14).map((_, i) => shocks.slice(i, i + 15).reduce((s, v) => s + v, 0));
    const zeros = d.map(() => 0);
    const hac = dieboldMariano(d, zeros, 15);
    const iidSe = Math.sqrt(d.reduce((s, v) => s + (v - hac.mean) ** 2, 0) / d.length / d.length);
    // The long-run variance of an MA(14) of unit shocks is 15² = 225 against a variance of 15:
    // the HAC standard error must be close to √15 times the naive one.
    const ratio = hac.stdError / iidSe;
    assert.ok(ratio > 3 && ratio < 4.5, `HAC / naive SE ${ratio}`);
    assert.ok(hac.lag >= 14);
  });

  it('has no statistic for identical forecasts and refuses bad input', () => {
    assert.ok(Number.isNaN(dieboldMariano([1, 2, 3], [1, 2, 3], 1).t));
    assert.throws(() => dieboldMariano([1], [1, 2], 1), /length/);
    assert.throws(() => dieboldMariano([1], [1], 0), /horizon/);
  });
});
