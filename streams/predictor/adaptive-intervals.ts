/**
 * The interval half-widths the error monitor's adaptive conformal trackers ask for
 * (ModelPerformance.adaptiveHalfWidth, streams/monitor/rolling.ts), followed live from the
 * bus, so each version's next predictions carry the width that keeps its live coverage on
 * target as volatility changes. Until the monitor has scored a version (a fresh one, or
 * after a restart until its next outcome), the predictor uses the split-conformal width the
 * version was registered with.
 *
 * Bounded: the newest value per (version, pair, horizon), at most MAX_KEYS of them (LRU).
 */
import { LRUCache } from 'lru-cache';
import { modelPerformanceSchema } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, InboundRecord, RunningTask } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';

const MAX_KEYS = 10_000;

const keyOf = (modelName: string, version: string, pair: string, horizonMinutes: number): string =>
  `${modelName}|${version}|${pair}|${horizonMinutes}`;

export class AdaptiveHalfWidths {
  private readonly latest = new LRUCache<string, number>({ max: MAX_KEYS });

  /** Takes the half-widths of a batch of model-performance records; malformed ones are skipped. */
  record(records: readonly InboundRecord[]): void {
    for (const record of records) {
      const parsed = (() => {
        try {
          return decodeValue(modelPerformanceSchema, record);
        } catch {
          return null;
        }
      })();
      const q = parsed?.adaptiveHalfWidth;
      if (parsed && typeof q === 'number') {
        this.latest.set(keyOf(parsed.modelName, parsed.modelVersion, parsed.pair, parsed.horizonMinutes), q);
      }
    }
  }

  get(modelName: string, version: string, pair: string, horizonMinutes: number): number | undefined {
    return this.latest.get(keyOf(modelName, version, pair, horizonMinutes));
  }

  /** Follows the model-performance topic from now on (a live feed of this process). */
  follow(bus: Bus): Promise<RunningTask> {
    return bus.consume({
      groupId: 'predictor-intervals',
      topics: [TOPICS.modelPerformance.name],
      fromBeginning: false,
      live: true,
      handler: async (records) => this.record(records),
    });
  }
}
