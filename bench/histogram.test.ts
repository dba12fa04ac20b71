import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addWindow, EMPTY_HISTOGRAM, histogramOf, histogramQuantile } from './histogram.ts';

const NAME = 'tickcast_processor_batch_seconds';

/** A scrape as scrapeMetrics returns it: by name with labels, and by name alone (summed). */
function scrape(buckets: Record<string, number>, count: number, sum: number): Map<string, number> {
  const metrics = new Map<string, number>();
  for (const [le, value] of Object.entries(buckets)) {
    metrics.set(`${NAME}_bucket{le="${le}",processor="candles"}`, value);
    metrics.set(`${NAME}_bucket`, (metrics.get(`${NAME}_bucket`) ?? 0) + value);
  }
  metrics.set(`${NAME}_count`, count);
  metrics.set(`${NAME}_sum`, sum);
  metrics.set('tickcast_other_bucket{le="0.1"}', 99);
  return metrics;
}

describe('histograms read from /metrics', () => {
  it('reads the buckets of one histogram by their bounds, +Inf included', () => {
    const h = histogramOf(scrape({ '0.1': 2, '0.5': 5, '+Inf': 6 }, 6, 1.5), NAME);
    assert.deepEqual(
      [...h.buckets],
      [
        [0.1, 2],
        [0.5, 5],
        [Infinity, 6],
      ],
    );
    assert.deepEqual([h.count, h.sum], [6, 1.5]);
  });

  it('sums the windows of several replicas', () => {
    const before = histogramOf(scrape({ '0.1': 1, '0.5': 1, '+Inf': 1 }, 1, 0.05), NAME);
    const after = histogramOf(scrape({ '0.1': 3, '0.5': 4, '+Inf': 4 }, 4, 0.65), NAME);
    const once = addWindow(EMPTY_HISTOGRAM, after, before);
    const twice = addWindow(once, after, before);
    assert.deepEqual(
      [...twice.buckets],
      [
        [0.1, 4],
        [0.5, 6],
        [Infinity, 6],
      ],
    );
    assert.equal(twice.count, 6);
    assert.ok(Math.abs(twice.sum - 1.2) < 1e-9);
  });

  it('interpolates a quantile within its bucket, as histogram_quantile does', () => {
    const h = {
      count: 100,
      sum: 0,
      buckets: new Map([
        [0.1, 50],
        [0.5, 90],
        [1, 100],
        [Infinity, 100],
      ]),
    };
    assert.equal(histogramQuantile(h, 0.5), 0.1);
    assert.ok(Math.abs(histogramQuantile(h, 0.7) - 0.3) < 1e-9);
    assert.ok(Math.abs(histogramQuantile(h, 0.99) - 0.95) < 1e-9);
    assert.ok(Math.abs(histogramQuantile(h, 0.25) - 0.05) < 1e-9);
  });

  it('gives the highest finite bound for a quantile in the +Inf bucket, NaN for an empty histogram', () => {
    const h = {
      count: 10,
      sum: 0,
      buckets: new Map([
        [1, 5],
        [5, 8],
        [Infinity, 10],
      ]),
    };
    assert.equal(histogramQuantile(h, 0.99), 5);
    assert.ok(Number.isNaN(histogramQuantile(EMPTY_HISTOGRAM, 0.99)));
  });
});
