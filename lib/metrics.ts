/**
 * Prometheus metrics. Every process has one registry; modules declare their metrics
 * through `counter()`, `gauge()` and `histogram()`, so a second declaration (e.g. two
 * processors in one process) reuses the first instead of throwing.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'tickcast_process_' });

export function counter(name: string, help: string, labelNames: readonly string[] = []): Counter<string> {
  return (
    (registry.getSingleMetric(name) as Counter<string> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

export function gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge<string> {
  return (
    (registry.getSingleMetric(name) as Gauge<string> | undefined) ??
    new Gauge({ name, help, labelNames, registers: [registry] })
  );
}

export function histogram(
  name: string,
  help: string,
  labelNames: readonly string[] = [],
  buckets: number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
): Histogram<string> {
  return (
    (registry.getSingleMetric(name) as Histogram<string> | undefined) ??
    new Histogram({ name, help, labelNames, buckets, registers: [registry] })
  );
}

/** Current value of a counter or gauge for the given labels (0 when never set); used by tests and the CLI. */
export async function metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return match?.value ?? 0;
}
