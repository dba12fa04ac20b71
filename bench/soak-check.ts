/**
 * What one soak subscriber checks in its stream: events of an ordered stream come one step
 * apart (a final one-minute candle per minute; a prediction per minute and horizon), each
 * once. A jump of more than a step is lost events, an event at or before the last one is a
 * duplicate (or a re-delivery out of order). Pure logic, beside its unit test.
 */

export class SequenceCheck {
  private readonly first = new Map<string, number>();
  private readonly last = new Map<string, number>();
  lost = 0;
  duplicated = 0;
  received = 0;

  constructor(private readonly stepMs: number) {}

  /** An event of `stream` (e.g. a horizon) at `time` (its key time: a candle's open time, a prediction's madeAt). */
  observe(stream: string, time: number): void {
    this.received++;
    const last = this.last.get(stream);
    if (last === undefined) {
      this.first.set(stream, time);
      this.last.set(stream, time);
    } else if (time <= last) {
      this.duplicated++;
    } else {
      this.lost += Math.round((time - last) / this.stepMs) - 1;
      this.last.set(stream, time);
    }
  }

  /** The newest event of each stream. */
  newest(): ReadonlyMap<string, number> {
    return this.last;
  }

  /**
   * Events this subscriber is missing at the end of each stream, given the newest event any
   * subscriber received (`through`); a stream it never received counts from its stream's
   * `since` (the first event every subscriber was subscribed for).
   */
  missingAtEnd(through: ReadonlyMap<string, number>, since: ReadonlyMap<string, number>): number {
    let missing = 0;
    for (const [stream, newest] of through) {
      const last = this.last.get(stream);
      const from = last ?? (since.get(stream) ?? newest) - this.stepMs;
      missing += Math.max(0, Math.round((newest - from) / this.stepMs));
    }
    return missing;
  }
}

/**
 * When each event was first received by any subscriber, for the newest `keep` events of each
 * stream: the end-of-run check counts only events first seen long enough ago to have reached
 * every subscriber, not one still being fanned out when the run ends.
 */
export class FirstSeen {
  private readonly seen = new Map<string, Map<number, number>>();

  constructor(private readonly keep = 64) {}

  note(stream: string, time: number, receivedAt: number): void {
    let times = this.seen.get(stream);
    if (!times) this.seen.set(stream, (times = new Map()));
    if (times.has(time)) return;
    times.set(time, receivedAt);
    if (times.size > this.keep) times.delete(times.keys().next().value!);
  }

  /** Per stream, the newest event first received at or before `before`. */
  settled(before: number): Map<string, number> {
    const through = new Map<string, number>();
    for (const [stream, times] of this.seen)
      for (const [time, at] of times)
        if (at <= before && time > (through.get(stream) ?? -Infinity)) through.set(stream, time);
    return through;
  }
}

/** The newest time per stream over several checks. */
export function newestOf(checks: readonly SequenceCheck[]): Map<string, number> {
  const through = new Map<string, number>();
  for (const check of checks)
    for (const [stream, time] of check.newest()) through.set(stream, Math.max(through.get(stream) ?? time, time));
  return through;
}

/** Rank-based percentile of `values` (sorted in place): the smallest value with at least `q` of them at or below it. */
export function percentileOf(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))]!;
}

/**
 * Memory growth between the baseline (the median of the first `window` samples at or after
 * the warm-up) and the end (the median of the last `window`): a ratio, 0.1 for 10 %. One
 * sample at each end would let a single collection's timing decide the result.
 */
export function growth(samples: readonly { at: number; value: number }[], warmUpEnd: number, window: number): number {
  const measured = samples.filter((s) => s.at >= warmUpEnd).map((s) => s.value);
  if (measured.length < 2) return Number.NaN;
  const n = Math.max(1, Math.min(window, Math.floor(measured.length / 2)));
  const median = (values: number[]) => percentileOf([...values], 0.5);
  const baseline = median(measured.slice(0, n));
  return (median(measured.slice(-n)) - baseline) / baseline;
}
