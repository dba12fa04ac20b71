import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  adaptiveHoldout,
  DEFAULT_GAMMA,
  halfWidth,
  initialState,
  parseAdaptiveState,
  Q_MAX_SCALES,
  update,
  type AdaptiveState,
} from './adaptive-conformal.ts';
import { conformalQuantile } from './conformal.ts';
import { logReturn, MINUTE_MS } from './dataset.ts';
import { chronologicalSplit } from './splits.ts';
import { normal } from './synthetic.ts';
import { loadCandleCsv } from '../lib/candle-csv.ts';
import { seededRandom } from '../lib/random.ts';
import { BTC_CANDLES, ETH_CANDLES, requireData } from '../test/support/data.ts';

const START = Date.UTC(2023, 0, 1);
const minutes = (n: number): number[] => Array.from({ length: n }, (_, i) => START + i * MINUTE_MS);

function coverageOf(actual: readonly number[], halfWidths: readonly number[], from: number, to: number): number {
  let covered = 0;
  for (let i = from; i < to; i += 1) if (Math.abs(actual[i] ?? NaN) <= (halfWidths[i] ?? NaN)) covered += 1;
  return covered / (to - from);
}

describe('adaptive conformal', () => {
  it('keeps 90% coverage when volatility doubles half-way, where the split-conformal q falls far short', () => {
    const gauss = normal(seededRandom(14));
    const sigma = 1e-3;
    const calibration = Array.from({ length: 10_000 }, () => Math.abs(sigma * gauss()));
    const q0 = conformalQuantile(calibration, 0.1);
    const half = 20_000;
    const actual = Array.from({ length: 2 * half }, (_, i) => (i < half ? sigma : 2 * sigma) * gauss());
    const result = adaptiveHoldout({
      predicted: actual.map(() => 0),
      actual,
      openTimes: minutes(actual.length),
      horizonMinutes: 5,
      initialQ: q0,
    });
    const split = coverageOf(
      actual,
      actual.map(() => q0),
      half,
      2 * half,
    );
    const adaptive = coverageOf(actual, result.halfWidths, half, 2 * half);
    assert.ok(split < 0.7, `split-conformal coverage in the second half ${split}`);
    assert.ok(Math.abs(adaptive - 0.9) <= 0.02, `adaptive coverage in the second half ${adaptive}`);
    assert.ok(Math.abs(result.coverage - 0.9) <= 0.02, `adaptive coverage overall ${result.coverage}`);
    // It widened to the new regime: about the doubled quantile, 2·q0.
    assert.ok(Math.abs(halfWidth(result.state) / q0 - 2) < 0.25, `final q/q0 ${halfWidth(result.state) / q0}`);
    const meanHalf = result.halfWidths.reduce((a, b) => a + b, 0) / actual.length;
    assert.ok(Math.abs(result.meanWidth - 2 * meanHalf) < 1e-15);
  });

  it('uses an outcome only once its target candle t + h has closed, judged against the half-width issued with it', () => {
    // Every residual lies just outside q0 but inside q0 + one step, so which outcomes are
    // known at each row, and which half-width each is judged against, decide every value.
    const q0 = 1e-3;
    const h = 15;
    const step = DEFAULT_GAMMA * q0 * (1 - 0.1);
    const actual = Array.from({ length: 2 * h }, () => 1.001 * q0);
    const { halfWidths } = adaptiveHoldout({
      predicted: actual.map(() => 0),
      actual,
      openTimes: minutes(actual.length),
      horizonMinutes: h,
      initialQ: q0,
    });
    // Rows 0..14 are issued q0 (nothing known yet) and all miss; row i ≥ 15 has seen the
    // outcomes of rows 0..i − 15. The misses of rows 0..14 widen it one step each; the
    // first covered row (15) is scored only at row 30, after the end.
    halfWidths.forEach((q, i) => {
      const expected = q0 + Math.max(0, i - (h - 1)) * step;
      assert.ok(Math.abs(q - expected) < 1e-15, `row ${i}: ${q} ≠ ${expected}`);
    });

    // After a gap every outcome that became known during it is applied before the next row.
    const gapped = adaptiveHoldout({
      predicted: [0, 0, 0, 0],
      actual: [1, 1, 1, 1],
      openTimes: [START, START + MINUTE_MS, START + 2 * MINUTE_MS, START + 100 * MINUTE_MS],
      horizonMinutes: h,
      initialQ: q0,
    });
    assert.deepEqual(
      gapped.halfWidths.map((q) => Math.round((q - q0) / step)),
      [0, 0, 0, 3],
    );
    assert.equal(gapped.state.updates, 4);
  });

  it('continues identically from a state sent through JSON', () => {
    const gauss = normal(seededRandom(7));
    const outcomes = Array.from({ length: 1000 }, () => 1e-3 * gauss());
    let live: AdaptiveState = initialState(1.2e-3);
    const issuedLive: number[] = [];
    let restored: AdaptiveState | undefined;
    const issuedRestored: number[] = [];
    outcomes.forEach((r, i) => {
      if (i === 500) restored = parseAdaptiveState(JSON.parse(JSON.stringify(live)));
      issuedLive.push(halfWidth(live));
      live = update(live, r, halfWidth(live));
      if (restored !== undefined) {
        issuedRestored.push(halfWidth(restored));
        restored = update(restored, r, halfWidth(restored));
      }
    });
    assert.deepEqual(issuedRestored, issuedLive.slice(500));
    assert.deepEqual(restored, live);
    assert.ok(live.updates === 1000 && live.misses > 0 && live.misses < 1000, JSON.stringify(live));

    assert.throws(() => parseAdaptiveState({ ...live, q: null }));
    assert.throws(() => parseAdaptiveState({ ...live, q: -1e-3 }));
    assert.throws(() => initialState(Infinity)); // conformalQuantile's answer for too few residuals
    assert.throws(() => initialState(0));
  });

  it('ignores and counts non-finite residuals and half-widths, and clamps q to [0, Q_MAX_SCALES·q0]', () => {
    const start = initialState(1e-3);
    let state = start;
    for (const [residual, issued] of [
      [NaN, 1e-3],
      [Infinity, 1e-3],
      [-Infinity, 1e-3],
      [5e-3, NaN],
      [5e-3, Infinity],
    ] as const) {
      state = update(state, residual, issued);
    }
    assert.deepEqual(state, { ...start, skipped: 5 });

    const actual = [NaN, ...Array.from({ length: 9 }, () => 0)];
    const holdout = adaptiveHoldout({
      predicted: actual.map(() => 0),
      actual,
      openTimes: minutes(actual.length),
      horizonMinutes: 1,
      initialQ: 1e-3,
    });
    assert.equal(holdout.state.skipped, 1);
    assert.equal(holdout.coverage, 1); // over the 9 finite rows
    assert.ok(holdout.halfWidths.every(Number.isFinite));

    let low = initialState(1e-3, 0.1, 0.5);
    let high = initialState(1e-3, 0.1, 0.5);
    for (let i = 0; i < 100; i += 1) {
      low = update(low, 0, halfWidth(low));
      high = update(high, 1, halfWidth(high));
    }
    assert.equal(halfWidth(low), 0);
    assert.equal(halfWidth(high), Q_MAX_SCALES * 1e-3);
    assert.throws(() => adaptiveHoldout({ ...holdoutInput(), openTimes: [START, START] }), /increasing/);
    assert.throws(() => adaptiveHoldout({ ...holdoutInput(), actual: [0] }), /length/);
  });

  it('covers 88–92% on the real holdout week of both pairs, persistence predictions, q0 from the week before', async () => {
    for (const file of [ETH_CANDLES, BTC_CANDLES]) {
      const candles = await loadCandleCsv(requireData(file));
      const closeAt = new Map(candles.map((c) => [c.time, c.close]));
      const end = (candles.at(-1)?.time ?? NaN) + MINUTE_MS;
      for (const h of [1, 5, 15]) {
        const rows = candles.flatMap((c) => {
          const future = closeAt.get(c.time + h * MINUTE_MS);
          return future === undefined ? [] : [{ time: c.time, y: logReturn(c.close, future) }];
        });
        const split = chronologicalSplit(
          rows.map((r) => r.time),
          { horizonMinutes: h, end },
        );
        const pick = (indices: readonly number[]): typeof rows => indices.map((i) => rows[i] ?? { time: NaN, y: NaN });
        const test = pick(split.test);
        const result = adaptiveHoldout({
          predicted: test.map(() => 0),
          actual: test.map((r) => r.y),
          openTimes: test.map((r) => r.time),
          horizonMinutes: h,
          initialQ: conformalQuantile(pick(split.validation).map((r) => Math.abs(r.y))),
        });
        assert.ok(result.coverage >= 0.88 && result.coverage <= 0.92, `${file} h=${h}: coverage ${result.coverage}`);
      }
    }
  });
});

function holdoutInput(): Parameters<typeof adaptiveHoldout>[0] {
  return {
    predicted: [0, 0],
    actual: [0, 0],
    openTimes: [START, START + MINUTE_MS],
    horizonMinutes: 1,
    initialQ: 1e-3,
  };
}
