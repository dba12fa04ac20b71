import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MINUTE_MS } from './dataset.ts';
import { chronologicalSplit, DAY_MS, expandingWindowFolds } from './splits.ts';

const START = Date.UTC(2023, 3, 1);
/** One row per minute for `days` days, with a 12-hour hole on day 5. */
function minutes(days: number): number[] {
  const out: number[] = [];
  for (let t = START; t < START + days * DAY_MS; t += MINUTE_MS) {
    if (t >= START + 5 * DAY_MS && t < START + 5.5 * DAY_MS) continue;
    out.push(t);
  }
  return out;
}

describe('chronologicalSplit', () => {
  const h = 5;
  const times = minutes(20);
  const end = START + 20 * DAY_MS;
  const split = chronologicalSplit(times, { horizonMinutes: h, end });
  const at = (i: number): number => times[i] ?? NaN;

  it('puts the last 7 days in TEST and the 7 before in VALIDATION, the rest in TRAIN', () => {
    assert.equal(split.testStart, end - 7 * DAY_MS);
    assert.equal(split.validationStart, end - 14 * DAY_MS);
    assert.equal(split.test.length, 7 * 1440);
    assert.equal(at(split.test[0] ?? -1), split.testStart);
    assert.equal(at(split.test[split.test.length - 1] ?? -1), end - MINUTE_MS);
    assert.ok(split.validation.every((i) => at(i) >= split.validationStart && at(i) < split.testStart));
    assert.ok(split.train.every((i) => at(i) < split.validationStart));
  });

  it('is chronological and disjoint, dropping exactly h minutes before each boundary', () => {
    const all = [...split.train, ...split.validation, ...split.test];
    assert.deepEqual(
      all,
      [...all].sort((a, b) => a - b),
    );
    assert.equal(new Set(all).size, all.length);
    assert.equal(times.length - all.length, 2 * h);
    // Every target (t + h) of an earlier set lies before the next set's first row.
    assert.ok(split.train.every((i) => at(i) + h * MINUTE_MS < split.validationStart));
    assert.ok(split.validation.every((i) => at(i) + h * MINUTE_MS < split.testStart));
    assert.equal(at(split.train[split.train.length - 1] ?? -1), split.validationStart - (h + 1) * MINUTE_MS);
    assert.equal(at(split.validation[split.validation.length - 1] ?? -1), split.testStart - (h + 1) * MINUTE_MS);
  });

  it('takes its lengths and embargo from the options', () => {
    const s = chronologicalSplit(times, { horizonMinutes: h, end, testDays: 2, validationDays: 3, embargoMinutes: 30 });
    assert.equal(s.test.length, 2 * 1440);
    assert.equal(s.validation.length, 3 * 1440 - 30);
    assert.equal(s.train.length, times.length - 5 * 1440 - 30);
  });

  it('defaults the end to the last row + h + 1 minute', () => {
    const s = chronologicalSplit(times, { horizonMinutes: h });
    assert.equal(s.end, (times[times.length - 1] ?? NaN) + (h + 1) * MINUTE_MS);
  });

  it('refuses unordered rows and empty input', () => {
    assert.throws(() => chronologicalSplit([2, 1], { horizonMinutes: 1 }), /increasing/);
    assert.throws(() => chronologicalSplit([], { horizonMinutes: 1 }), /no rows/);
  });
});

describe('expandingWindowFolds', () => {
  const h = 15;
  const times = minutes(10);
  const train = times.map((_, i) => i).slice(0, 8000);
  const folds = expandingWindowFolds(times, train, { folds: 4, embargoMinutes: h });
  const at = (i: number): number => times[i] ?? NaN;

  it('fits on a growing prefix and scores on the next block, with an h-minute embargo', () => {
    assert.equal(folds.length, 4);
    let previousFit = 0;
    let previousEnd = -1;
    folds.forEach((fold, k) => {
      const firstValidate = fold.validate[0] ?? -1;
      assert.equal(fold.validate.length, 1600, `fold ${k}`);
      assert.equal(firstValidate, (k + 1) * 1600);
      assert.ok(firstValidate > previousEnd);
      previousEnd = fold.validate[fold.validate.length - 1] ?? -1;
      assert.ok(fold.fit.length > previousFit);
      previousFit = fold.fit.length;
      assert.ok(fold.fit.every((i) => at(i) + h * MINUTE_MS < at(firstValidate)));
      // Only the embargo is missing from the prefix.
      assert.equal(fold.fit.length, firstValidate - h);
    });
    assert.equal(previousEnd, 7999);
  });

  it('uses only the given indices', () => {
    const subset = train.filter((i) => i % 2 === 0);
    for (const fold of expandingWindowFolds(times, subset, { folds: 3, embargoMinutes: 1 })) {
      assert.ok([...fold.fit, ...fold.validate].every((i) => i % 2 === 0));
    }
    assert.throws(() => expandingWindowFolds(times, [0, 1, 2], { folds: 4, embargoMinutes: 1 }), /too few/);
  });
});
