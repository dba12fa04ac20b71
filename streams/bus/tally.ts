/**
 * Increments of a labelled counter, gathered and applied with one `inc` per label set when
 * the counter is read: prom-client builds and hashes a label object on every `inc`, which per
 * trade cost the candles processor about as much as aggregating the trade. prom-client runs
 * a counter's `collect` hook before every read of its values (a scrape, `get()`), so every
 * reader sees the same counts as with an `inc` per record.
 */
import type { Counter } from 'prom-client';

/** Counts one event (or `by`) for the label values given in `labelNames`' order. */
export type Tally = (values: readonly string[], by?: number) => void;

/** Takes over `counter`'s `collect` hook: one tally per counter. */
export function tally(counter: Counter<string>, labelNames: readonly string[]): Tally {
  // At most one entry per label set the counter itself holds; emptied on every read.
  const pending = new Map<string, { values: readonly string[]; count: number }>();
  (counter as Counter<string> & { collect?: () => void }).collect = () => {
    for (const { values, count } of pending.values()) {
      counter.inc(Object.fromEntries(labelNames.map((name, i) => [name, values[i]!])), count);
    }
    pending.clear();
  };
  return (values, by = 1) => {
    const key = values.join('\u0000');
    const entry = pending.get(key);
    if (entry) entry.count += by;
    else pending.set(key, { values, count: by });
  };
}
