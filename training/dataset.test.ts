import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IndicatorInput } from '../lib/indicators/engine.ts';
import { buildDataset, gapStarts, indicatorSeries, logReturn, MINUTE_MS, type Row } from './dataset.ts';
import { syntheticCandles } from './synthetic.ts';
import { seededRandom } from '../lib/random.ts';

const H = 5;

function rowsByTime(candles: readonly IndicatorInput[], h = H): Map<number, Row> {
  return new Map(buildDataset(indicatorSeries(candles), h).rows.map((r) => [r.openTime, r]));
}

/** Every candle from index `from` on gets new random prices and volume. */
function perturbFrom(candles: readonly IndicatorInput[], from: number, seed: number): IndicatorInput[] {
  const random = seededRandom(seed);
  return candles.map((c, i) => {
    if (i < from) return c;
    const f = 0.9 + 0.2 * random();
    const close = c.close * f;
    return {
      ...c,
      open: c.open * f,
      high: Math.max(c.high * f, close) * 1.01,
      low: c.low * f * 0.99,
      close,
      volume: 5 * random(),
    };
  });
}

describe('buildDataset', () => {
  const candles = syntheticCandles({ count: 600, seed: 3 });
  const base = rowsByTime(candles);

  it('features at t do not change when every candle after t changes; the target uses exactly t + h', () => {
    let checked = 0;
    for (let t = 61; t < candles.length - H; t += 23) {
      const perturbed = perturbFrom(candles, t + 1, t);
      const rows = rowsByTime(perturbed);
      const time = candles[t]?.openTime ?? NaN;
      const before = base.get(time);
      const after = rows.get(time);
      assert.ok(before !== undefined && after !== undefined, `row at candle ${t}`);
      assert.deepEqual(after.x, before.x, `features of candle ${t} saw later candles`);
      assert.equal(after.close, before.close);
      const future = perturbed[t + H];
      assert.ok(future !== undefined);
      assert.equal(after.futureClose, future.close);
      assert.equal(after.y, logReturn(before.close, future.close));
      assert.notEqual(after.y, before.y);
      checked += 1;
    }
    assert.ok(checked >= 20);
  });

  it('changing only candle t + h changes row t’s target and nothing else of it; t + h ± 1 changes nothing', () => {
    const t = 300;
    const time = candles[t]?.openTime ?? NaN;
    const before = base.get(time);
    assert.ok(before !== undefined);
    for (const offset of [H - 1, H, H + 1]) {
      const changed = candles.map((c, i) =>
        i === t + offset ? { ...c, close: c.close * 1.01, high: c.high * 1.01 } : c,
      );
      const row = rowsByTime(changed).get(time);
      assert.ok(row !== undefined);
      assert.deepEqual(row.x, before.x);
      if (offset === H) {
        assert.equal(row.y, logReturn(before.close, (candles[t + H]?.close ?? NaN) * 1.01));
        assert.notEqual(row.y, before.y);
      } else {
        assert.equal(row.y, before.y, `offset ${offset}`);
      }
    }
  });

  it('a target is exactly h minutes ahead and every row with one is present', () => {
    const series = indicatorSeries(candles);
    const ds = buildDataset(series, 15);
    assert.equal(ds.horizonMinutes, 15);
    // First complete feature vector at candle 60; the last 15 candles have no target.
    assert.equal(ds.rows.length, candles.length - 60 - 15);
    for (const row of ds.rows) {
      const i = candles.findIndex((c) => c.openTime === row.openTime);
      assert.equal(row.futureClose, candles[i + 15]?.close);
      assert.equal(candles[i + 15]?.openTime, row.openTime + 15 * MINUTE_MS);
    }
  });

  it('skips targets across a data gap and restarts the indicators after it', () => {
    const gapped = syntheticCandles({ count: 600, seed: 5, gapsBefore: [300], gapMinutes: 180 });
    const series = indicatorSeries(gapped);
    assert.deepEqual(gapStarts(gapped.map((c) => c.openTime)), [gapped[300]?.openTime]);
    // After the gap the engine starts fresh: identical to running it on the post-gap candles alone.
    assert.deepEqual(
      series.slice(300).map((p) => p.values),
      indicatorSeries(gapped.slice(300)).map((p) => p.values),
    );
    const rows = buildDataset(series, H).rows;
    const gapStart = gapped[300]?.openTime ?? NaN;
    for (const row of rows) {
      // No target crosses the gap, and no row uses pre-gap data after it: rows resume after warm-up.
      assert.ok(
        row.openTime + H * MINUTE_MS < gapStart || row.openTime >= gapStart + 60 * MINUTE_MS,
        `${row.openTime}`,
      );
    }
    // Rows 60..294 before the gap (295..299 have their target in the gap), 360..594 after.
    assert.equal(rows.length, 300 - 60 - H + (300 - 60 - H));
  });

  it('refuses a series that is not strictly increasing and a non-integer horizon', () => {
    const series = indicatorSeries(candles.slice(0, 100));
    const swapped = [...series];
    const a = swapped[10];
    const b = swapped[11];
    assert.ok(a !== undefined && b !== undefined);
    swapped[10] = b;
    swapped[11] = a;
    assert.throws(() => buildDataset(swapped, 1), /strictly increasing/);
    assert.throws(() => buildDataset(series, 1.5), /horizon/);
    assert.throws(() => buildDataset(series, 0), /horizon/);
  });

  it('logReturn is ln(b / a), exactly 0 for an unchanged close', () => {
    assert.equal(logReturn(28_000.1, 28_000.1), 0);
    assert.ok(Math.abs(logReturn(100, 110) - Math.log(1.1)) < 1e-15);
  });
});
