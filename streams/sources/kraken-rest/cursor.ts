/**
 * The resumable cursor of a backfill, saved as a JSON checkpoint after every page handed to the
 * sink: Trades keep `since` (Kraken's nanosecond cursor) and the last trade id (to drop the
 * boundary trade a resumed page repeats), OHLC keep `since` in seconds and the last candle
 * time. A restarted backfill with the same pair and start continues from it (the end may
 * differ: a later end simply continues further); another backfill's file is overwritten.
 * Trades `since` is UNIX time in ns: https://support.kraken.com/hc/en-us/articles/218198197
 */
import { z } from 'zod';
import type { Logger } from '../../../lib/logger.ts';
import type { Pair } from '../../../schema/events.ts';
import { readCheckpoint, writeCheckpoint } from '../checkpoint.ts';

const tradesCheckpointSchema = z.object({
  v: z.literal(1),
  kind: z.literal('trades'),
  pair: z.string(),
  startMs: z.number(),
  endMs: z.number(),
  since: z.string().regex(/^\d+$/),
  lastTradeId: z.number().int().nullable(),
  coveredMs: z.number(),
  updatedAt: z.string(),
});
export type TradesCursor = z.infer<typeof tradesCheckpointSchema>;

const ohlcCheckpointSchema = z.object({
  v: z.literal(1),
  kind: z.literal('ohlc'),
  pair: z.string(),
  intervalMinutes: z.number(),
  startMs: z.number(),
  since: z.number().int(),
  lastRowTimeMs: z.number().nullable(),
  coveredMs: z.number(),
  updatedAt: z.string(),
});
export type OhlcCursor = z.infer<typeof ohlcCheckpointSchema>;

export function msToNs(ms: number): bigint {
  return BigInt(Math.floor(ms)) * 1_000_000n;
}

export function nsToMs(ns: string): number {
  return Number(BigInt(ns) / 1_000_000n);
}

/** The trades cursor saved at `req.checkpointPath` if it belongs to this backfill (same pair and start). */
export async function loadTradesCursor(
  req: { pair: Pair; startMs: number; checkpointPath?: string },
  log: Logger,
): Promise<TradesCursor | null> {
  const path = req.checkpointPath;
  if (!path) return null;
  const cp = await readCheckpoint(path, tradesCheckpointSchema);
  if (!cp) return null;
  if (cp.pair !== req.pair || cp.startMs !== req.startMs) {
    log.warn(
      { path, checkpoint: { pair: cp.pair, startMs: cp.startMs } },
      `checkpoint ${path} belongs to another backfill (${cp.pair} from ${cp.startMs}); starting from the beginning and overwriting it`,
    );
    return null;
  }
  log.info(
    { path, since: cp.since, coveredUntil: new Date(cp.coveredMs).toISOString() },
    `resuming ${req.pair} trades backfill from checkpoint`,
  );
  return cp;
}

/** The OHLC cursor saved at `req.checkpointPath` if it belongs to this backfill (same pair, start, interval). */
export async function loadOhlcCursor(
  req: { pair: Pair; startMs: number; intervalMinutes: number; checkpointPath?: string },
  log: Logger,
): Promise<OhlcCursor | null> {
  const path = req.checkpointPath;
  if (!path) return null;
  const cp = await readCheckpoint(path, ohlcCheckpointSchema);
  if (!cp) return null;
  if (cp.pair !== req.pair || cp.startMs !== req.startMs || cp.intervalMinutes !== req.intervalMinutes) {
    log.warn(
      { path },
      `checkpoint ${path} belongs to another OHLC backfill; starting from the beginning and overwriting it`,
    );
    return null;
  }
  log.info({ path, since: cp.since }, `resuming ${req.pair} OHLC backfill from checkpoint`);
  return cp;
}

/** The fields a backfill tracks; the file adds its format version, kind and write time. */
type CursorFields<C> = Omit<C, 'v' | 'kind' | 'updatedAt'>;

export async function saveTradesCursor(path: string, cursor: CursorFields<TradesCursor>, now: number): Promise<void> {
  const saved: TradesCursor = { v: 1, kind: 'trades', ...cursor, updatedAt: new Date(now).toISOString() };
  await writeCheckpoint(path, saved);
}

export async function saveOhlcCursor(path: string, cursor: CursorFields<OhlcCursor>, now: number): Promise<void> {
  const saved: OhlcCursor = { v: 1, kind: 'ohlc', ...cursor, updatedAt: new Date(now).toISOString() };
  await writeCheckpoint(path, saved);
}
