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
  // One level per label, so counting builds no key; at most one leaf per label set the
  // counter itself holds, and emptied on every read.
  type Level = Map<string, Level | Leaf>;
  type Leaf = { values: readonly string[]; count: number };
  const pending: Level = new Map();
  const apply = (level: Level, depth: number): void => {
    for (const node of level.values()) {
      if (depth < labelNames.length - 1) apply(node as Level, depth + 1);
      else {
        const { values, count } = node as Leaf;
        counter.inc(Object.fromEntries(labelNames.map((name, i) => [name, values[i]!])), count);
      }
    }
  };
  (counter as Counter<string> & { collect?: () => void }).collect = () => {
    apply(pending, 0);
    pending.clear();
  };
  const last = labelNames.length - 1;
  return (values, by = 1) => {
    let level = pending;
    for (let i = 0; i < last; i++) {
      let next = level.get(values[i]!) as Level | undefined;
      if (!next) {
        next = new Map();
        level.set(values[i]!, next);
      }
      level = next;
    }
    const leaf = level.get(values[last]!) as Leaf | undefined;
    if (leaf) leaf.count += by;
    else level.set(values[last]!, { values, count: by });
  };
}
