import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calibrate, conformalQuantile, predictionInterval } from './conformal.ts';
import { normal } from './synthetic.ts';
import { seededRandom } from '../lib/random.ts';

describe('split conformal', () => {
  it('takes the ⌈(1 − α)(n + 1)⌉-th smallest absolute residual', () => {
    const nine = [9, 1, 8, 2, 7, 3, 6, 4, 5];
    assert.equal(conformalQuantile(nine, 0.1), 9); // ⌈0.9 · 10⌉ = 9
    assert.equal(conformalQuantile(nine, 0.2), 8); // ⌈0.8 · 10⌉ = 8
    assert.equal(conformalQuantile(nine, 0.5), 5); // ⌈0.5 · 10⌉ = 5
    const nineteen = Array.from({ length: 19 }, (_, i) => 19 - i);
    assert.equal(conformalQuantile(nineteen, 0.1), 18); // ⌈0.9 · 20⌉ = 18
    assert.equal(conformalQuantile([1, 2, 3, 4, 5], 0.1), Infinity); // rank 6 > n
    assert.throws(() => conformalQuantile([], 0.1), /no calibration/);
    assert.throws(() => conformalQuantile([-1], 0.1), /absolute/);
    assert.throws(() => conformalQuantile([1], 1), /alpha/);
  });

  it('covers about 1 − α of new points for any fixed predictor, on exchangeable noise', () => {
    const gauss = normal(seededRandom(21));
    for (const alpha of [0.1, 0.2]) {
      let covered = 0;
      let total = 0;
      for (let trial = 0; trial < 40; trial += 1) {
        // A deliberately biased predictor: coverage must still hold (width grows instead).
        const predictor = (x: number): number => 0.5 * x + 0.1;
        const draw = (): [number, number] => {
          const x = gauss();
          return [x, x + 0.5 * gauss() * (1 + Math.abs(x))];
        };
        const calibration = Array.from({ length: 500 }, draw);
        const cal = calibrate(
          calibration.map(([x]) => predictor(x)),
          calibration.map(([, y]) => y),
          alpha,
        );
        for (let i = 0; i < 500; i += 1) {
          const [x, y] = draw();
          const interval = predictionInterval(predictor(x), cal, 1);
          if (y >= interval.lower && y <= interval.upper) covered += 1;
          total += 1;
        }
      }
      const coverage = covered / total;
      assert.ok(Math.abs(coverage - (1 - alpha)) < 0.01, `alpha ${alpha}: coverage ${coverage}`);
    }
  });

  it('turns the log-return interval into price bounds', () => {
    const interval = predictionInterval(0.001, { alpha: 0.1, q: 0.002, n: 100 }, 30_000);
    assert.ok(Math.abs(interval.lower - -0.001) < 1e-15 && Math.abs(interval.upper - 0.003) < 1e-15);
    assert.ok(Math.abs(interval.lowerPrice - 30_000 * Math.exp(-0.001)) < 1e-9);
    assert.ok(Math.abs(interval.upperPrice - 30_000 * Math.exp(0.003)) < 1e-9);
    assert.throws(() => calibrate([1, 2], [1]), /length/);
  });
});
