/**
 * tickcast's own recorded format: JSON Lines, one MarketEvent (schema/events.ts) per
 * line, in arrival order; gzip-compressed when the file name ends in .gz. `tickcast
 * record` writes it from a live source; the replay reads it back with the original
 * timing scaled by a speed factor.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { marketEventSchema, type MarketEvent } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { gapClocks } from './clocks.ts';
import type { MarketSink, TradeSource } from './source.ts';

export interface RecordingWriter {
  readonly sink: MarketSink;
  /** Events written so far. */
  count(): number;
  close(): Promise<void>;
}

export function createRecordingWriter(path: string): RecordingWriter {
  const file = createWriteStream(path, { flags: 'a' });
  const out: Writable = path.endsWith('.gz') ? createGzip() : file;
  if (out !== file) out.pipe(file);
  let written = 0;
  return {
    sink: async (events) => {
      const chunk = events.map((e) => `${JSON.stringify(e)}\n`).join('');
      written += events.length;
      if (!out.write(chunk)) await once(out, 'drain');
    },
    count: () => written,
    close: async () => {
      out.end();
      await once(file, 'close');
    },
  };
}

export async function* readRecording(path: string): AsyncGenerator<MarketEvent> {
  let input: Readable = createReadStream(path);
  if (path.endsWith('.gz')) input = input.pipe(createGunzip());
  let lineNo = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNo += 1;
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (cause) {
      throw new TickcastError('INVALID_EVENT', `${path}:${lineNo} is not JSON`, { cause });
    }
    const parsed = marketEventSchema.safeParse(json);
    if (!parsed.success) {
      throw new TickcastError('INVALID_EVENT', `${path}:${lineNo} is not a market event: ${parsed.error.message}`);
    }
    yield parsed.data;
  }
}

/** How far a recording replay got: events acknowledged by the sink, and each pair's newest event time then. */
export const recordingPositionSchema = z.object({
  events: z.number().int().nonnegative(),
  newest: z.record(z.string(), z.number()),
});
export type RecordingPosition = z.infer<typeof recordingPositionSchema>;

export interface RecordingReplayOptions {
  readonly batchSize?: number;
  /** Continue after this position (from a previous run); the first `events` events are skipped. */
  readonly resumeFrom?: RecordingPosition | null;
  /** Called after the sink acknowledged every event up to the position. */
  readonly onAcknowledged?: (position: RecordingPosition) => Promise<void>;
}

/**
 * Replays a recording; `speed` 0 is as fast as the sink accepts. Where a pair's events
 * stop for longer than a minute (the recorder was disconnected: no clocks were recorded
 * either), clocks step through the gap (see clocks.ts). The position is counted in
 * events, not event time: a recording interleaves pairs and may hold late trades.
 */
export class RecordingReplaySource implements TradeSource {
  readonly name = 'replay-recording' as const;

  constructor(
    private readonly path: string,
    private readonly speed: number,
    private readonly options: RecordingReplayOptions = {},
  ) {}

  async start(sink: MarketSink, signal: AbortSignal): Promise<void> {
    const batchSize = this.options.batchSize ?? 1_000;
    const resumeAfter = this.options.resumeFrom?.events ?? 0;
    let pending: MarketEvent[] = [];
    let origin: { wall: number; event: number } | null = null;
    const newest = new Map<string, number>(Object.entries(this.options.resumeFrom?.newest ?? {}));
    let skipped = 0;
    /** Events of the file that are in `pending` or sent. */
    let queued = resumeAfter;
    const send = async (): Promise<void> => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      await sink(batch);
      await this.options.onAcknowledged?.({ events: queued, newest: Object.fromEntries(newest) });
    };
    for await (const event of readRecording(this.path)) {
      if (signal.aborted) break;
      if (skipped < resumeAfter) {
        skipped += 1;
        continue;
      }
      if (this.speed > 0) {
        origin ??= { wall: Date.now(), event: event.time };
        const wait = origin.wall + (event.time - origin.event) / this.speed - Date.now();
        if (wait > 0) {
          await send();
          // Aborting rejects the sleep: the check below ends the replay.
          await sleep(wait, undefined, { signal }).catch(() => undefined);
          if (signal.aborted) break;
        }
      }
      const previous = newest.get(event.pair);
      if (previous !== undefined && event.time > previous) {
        for (const clock of gapClocks(event.pair, this.name, previous, event.time - 1)) {
          pending.push(clock);
          if (pending.length >= batchSize) await send();
        }
      }
      if (previous === undefined || event.time > previous) newest.set(event.pair, event.time);
      pending.push({ ...event, source: 'replay-recording' });
      queued += 1;
      if (pending.length >= batchSize) await send();
    }
    await send();
  }
}
