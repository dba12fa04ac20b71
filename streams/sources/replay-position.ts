/**
 * Where a replay (candle file, recording, headline dataset) stopped, kept in the data
 * directory so a restarted `tickcast start` continues after it instead of re-publishing
 * the file from its first line. The position only ever names records the sink (the bus)
 * has acknowledged, and it is written atomically (checkpoint.ts) at most once per
 * `minIntervalMs` plus once when the replay stops: a crash loses at most that interval,
 * whose records are then published again. Downstream this is harmless: replayed trades
 * keep their ids (the candles processor and the store dedupe them by id) and news items
 * keep their content-hash ids.
 */
import { createHash } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import type { z } from 'zod';
import type { Config } from '../../lib/config.ts';
import { counter } from '../../lib/metrics.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';

const positionWrites = counter(
  'tickcast_replay_position_writes_total',
  'Replay positions saved to the data directory',
  ['replay'],
);

/**
 * The position file of one replay: the file's name for people reading the directory, a
 * hash of its absolute path and of whatever changes what is replayed (pair, time range),
 * so two replays never share a position.
 */
export function replayPositionFile(dataDir: string, kind: string, file: string, scope: readonly unknown[]): string {
  const path = resolve(file);
  const digest = createHash('sha256')
    .update(JSON.stringify([path, ...scope]))
    .digest('hex')
    .slice(0, 12);
  const name = basename(path).replace(/[^A-Za-z0-9._-]/g, '_');
  return join(dataDir, 'replay-positions', `${kind}-${name}-${digest}.json`);
}

export interface ReplayPositionOptions {
  /** Minimum time between two writes (ms): bounds the write rate whatever the replay speed. */
  readonly minIntervalMs?: number;
  readonly now?: () => number;
}

export class ReplayPosition<P> {
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private latest: P | null = null;
  private written = true;
  private lastWriteAt = -Infinity;

  constructor(
    readonly path: string,
    private readonly schema: z.ZodType<P>,
    private readonly replay: string,
    options: ReplayPositionOptions = {},
  ) {
    this.minIntervalMs = options.minIntervalMs ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  /** The saved position, or null when this replay never ran (or its position was deleted). */
  load(): Promise<P | null> {
    return readCheckpoint(this.path, this.schema);
  }

  /** Everything up to `position` was acknowledged by the sink; saved now unless the last write is too recent. */
  async acknowledged(position: P): Promise<void> {
    this.latest = position;
    this.written = false;
    if (this.now() - this.lastWriteAt >= this.minIntervalMs) await this.flush();
  }

  /** Saves the newest acknowledged position if it is not saved yet: call when the replay stops or finishes. */
  async flush(): Promise<void> {
    if (this.written || this.latest === null) return;
    this.lastWriteAt = this.now();
    await writeCheckpoint(this.path, this.latest);
    this.written = true;
    positionWrites.inc({ replay: this.replay });
  }
}

/**
 * A replay's position belongs to the file, what is replayed of it and the bus it went
 * to: the embedded bus lives in the data directory, a Kafka bus is its brokers and prefix.
 */
export function replayPosition<P>(
  config: Config,
  kind: string,
  file: string,
  scope: readonly unknown[],
  schema: z.ZodType<P>,
): ReplayPosition<P> {
  const bus = [config.KAFKA_BROKERS ?? null, config.KAFKA_TOPIC_PREFIX];
  const path = replayPositionFile(config.TICKCAST_DATA_DIR, kind, file, [...scope, ...bus]);
  return new ReplayPosition(path, schema, kind);
}
