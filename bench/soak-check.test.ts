import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FirstSeen, growth, newestOf, percentileOf, SequenceCheck } from './soak-check.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2023, 3, 3, 12, 1);
const at = (minute: number) => T0 + minute * MINUTE;

describe('soak subscriber check', () => {
  it('accepts a stream one step apart, each stream on its own', () => {
    const check = new SequenceCheck(MINUTE);
    for (let m = 0; m < 5; m++) {
      check.observe('1m', at(m));
      check.observe('5m', at(m));
    }
    assert.deepEqual([check.received, check.lost, check.duplicated], [10, 0, 0]);
  });

  it('counts the minutes a jump skips as lost, and a repeat or an older event as duplicated', () => {
    const check = new SequenceCheck(MINUTE);
    for (const m of [0, 1, 4, 4, 2, 5]) check.observe('1m', at(m));
    assert.equal(check.lost, 2); // minutes 2 and 3 were not there in order
    assert.equal(check.duplicated, 2); // 4 again, then 2 after 4
  });

  it('counts what a subscriber misses at the end against the newest any subscriber got', () => {
    const [complete, behind, silent] = [
      new SequenceCheck(MINUTE),
      new SequenceCheck(MINUTE),
      new SequenceCheck(MINUTE),
    ];
    for (let m = 0; m <= 9; m++) complete.observe('1m', at(m));
    for (let m = 0; m <= 6; m++) behind.observe('1m', at(m));
    const through = newestOf([complete, behind, silent]);
    const since = new Map([['1m', at(0)]]);
    assert.deepEqual([...through], [['1m', at(9)]]);
    assert.equal(complete.missingAtEnd(through, since), 0);
    assert.equal(behind.missingAtEnd(through, since), 3);
    assert.equal(silent.missingAtEnd(through, since), 10);
  });

  it('ends the run at the newest event first seen long enough ago, not one still being fanned out', () => {
    const seen = new FirstSeen(3);
    seen.note('1m', at(0), 1_000);
    seen.note('1m', at(1), 7_000);
    seen.note('1m', at(1), 8_000); // the same event at a second subscriber: the first receipt counts
    seen.note('1m', at(2), 13_000);
    seen.note('5m', at(0), 2_000);
    assert.deepEqual(
      [...seen.settled(7_500)],
      [
        ['1m', at(1)],
        ['5m', at(0)],
      ],
    );
    assert.deepEqual([...seen.settled(500)], []);
    seen.note('1m', at(3), 19_000);
    seen.note('1m', at(4), 25_000);
    assert.deepEqual([...seen.settled(7_500)], [['5m', at(0)]], 'only the newest 3 events of a stream are kept');
  });

  it('takes percentiles by rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(percentileOf([...values], 0.5), 50);
    assert.equal(percentileOf([...values], 0.99), 99);
    assert.equal(percentileOf([...values], 1), 100);
    assert.ok(Number.isNaN(percentileOf([], 0.5)));
  });

  it('measures memory growth from the median after the warm-up to the median at the end', () => {
    const samples = [500, 100, 100, 300, 100, 110, 120, 110, 1000].map((value, i) => ({ at: i, value }));
    // Samples 1..8 count (from the warm-up end at 1); baseline median of 100,100,300 = 100, end median of 120,110,1000 = 120.
    assert.ok(Math.abs(growth(samples, 1, 3) - 0.2) < 1e-9);
    assert.ok(Number.isNaN(growth(samples, 100, 3)));
  });
});
