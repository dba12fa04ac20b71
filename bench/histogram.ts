/**
 * Prometheus histograms as a tickcast process serves them on /metrics, read from outside: one
 * scrape's buckets, the difference of two scrapes (a timed window), and a quantile of it.
 */

/** One histogram: cumulative counts by bucket upper bound (+Inf included), total count and sum. */
export interface Histogram {
  readonly count: number;
  readonly sum: number;
  readonly buckets: ReadonlyMap<number, number>;
}

export const EMPTY_HISTOGRAM: Histogram = { count: 0, sum: 0, buckets: new Map() };

/**
 * The histogram `name` in a scrape (bench/subscriptions/process-metrics.ts `scrapeMetrics`: sums by
 * name and by name with labels), summed over its label sets.
 */
export function histogramOf(metrics: ReadonlyMap<string, number>, name: string): Histogram {
  const buckets = new Map<number, number>();
  const bucket = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"`);
  for (const [key, value] of metrics) {
    const label = bucket.exec(key)?.[1];
    if (label === undefined) continue;
    // Prometheus spells the last bound "+Inf", which Number() does not read.
    const le = label === '+Inf' ? Infinity : Number(label);
    buckets.set(le, (buckets.get(le) ?? 0) + value);
  }
  return { count: metrics.get(`${name}_count`) ?? 0, sum: metrics.get(`${name}_sum`) ?? 0, buckets };
}

/** What was observed between two scrapes of one process, added to `base` (several replicas' windows summed). */
export function addWindow(base: Histogram, after: Histogram, before: Histogram): Histogram {
  const buckets = new Map(base.buckets);
  for (const [le, count] of after.buckets) {
    buckets.set(le, (buckets.get(le) ?? 0) + count - (before.buckets.get(le) ?? 0));
  }
  return { count: base.count + after.count - before.count, sum: base.sum + after.sum - before.sum, buckets };
}

/**
 * The q-quantile, interpolated linearly within its bucket as Prometheus' `histogram_quantile`
 * does (from 0 in the first bucket); in the +Inf bucket, the highest finite bound. NaN when empty.
 */
export function histogramQuantile(h: Histogram, q: number): number {
  if (h.count === 0) return NaN;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const le of [...h.buckets.keys()].sort((a, b) => a - b)) {
    const cumulative = h.buckets.get(le)!;
    if (cumulative >= rank && cumulative > below) {
      if (!Number.isFinite(le)) return lower;
      return lower + ((le - lower) * (rank - below)) / (cumulative - below);
    }
    lower = le;
    below = cumulative;
  }
  return lower;
}
