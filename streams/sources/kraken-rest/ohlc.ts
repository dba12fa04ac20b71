/**
 * OHLC backfill: pages through Kraken's OHLC endpoint and returns the committed candles of a
 * range, saving the cursor after every page.
 *
 * GET /0/public/OHLC?pair=XBTUSD&interval=<min>&since=<s>: rows plus `last`; "Returns up to 720
 * of the most recent entries (older data cannot be retrieved, regardless of the value of since)"
 * and "the last entry in the OHLC array is for the current, not-yet-committed timeframe".
 * https://docs.kraken.com/api-reference/market-data/get-ohlc-data.md
 */
import { TickcastError } from '../../../lib/errors.ts';
import { pairSchema, type Pair } from '../../../schema/events.ts';
import { toRestPair } from '../kraken-pairs.ts';
import { rejectRow, type BackfillContext, type BackfillResult } from './backfill.ts';
import { loadOhlcCursor, saveOhlcCursor } from './cursor.ts';
import { Aborted } from './http.ts';
import { parseOhlcRow, splitResult, type OhlcRow } from './rows.ts';

/** Documented OHLC intervals, in minutes. */
export const OHLC_INTERVALS = [1, 5, 15, 30, 60, 240, 1440, 10080, 21600] as const;
/** Kraken serves only this many most recent OHLC rows per pair and interval. */
export const OHLC_MAX_ROWS = 720;

export interface OhlcBackfillRequest {
  pair: Pair;
  /** Candle interval in minutes, one of OHLC_INTERVALS. */
  intervalMinutes: number;
  /** Inclusive start (candle open time), epoch ms. */
  startMs: number;
  /** Inclusive end (candle open time), epoch ms. Default: now. */
  endMs?: number;
  checkpointPath?: string;
}

export interface OhlcBackfillResult extends BackfillResult {
  /** Committed candles fetched by this run, ascending by time. */
  rows: OhlcRow[];
}

/**
 * Fetches committed candles of `pair` with open time in [startMs, endMs]. Kraken serves only the
 * most recent 720 candles per interval: an older start is logged as a warning and the rows
 * start where Kraken's data does. `onRows` (optional) receives each page as it arrives.
 */
export async function backfillOhlc(
  ctx: BackfillContext,
  req: OhlcBackfillRequest,
  signal: AbortSignal,
  onRows?: (rows: OhlcRow[]) => Promise<void>,
): Promise<OhlcBackfillResult> {
  pairSchema.parse(req.pair);
  if (!(OHLC_INTERVALS as readonly number[]).includes(req.intervalMinutes)) {
    throw new TickcastError(
      'CONFIG_INVALID',
      `OHLC interval ${req.intervalMinutes} is not one Kraken serves; use one of ${OHLC_INTERVALS.join(', ')} (minutes)`,
    );
  }
  const restPair = toRestPair(req.pair);
  const intervalMs = req.intervalMinutes * 60_000;
  const endMs = req.endMs ?? ctx.now();
  const log = ctx.log.child({ pair: req.pair, restPair, endpoint: 'OHLC', interval: req.intervalMinutes });

  const earliestServedMs = (Math.floor(ctx.now() / intervalMs) - (OHLC_MAX_ROWS - 1)) * intervalMs;
  if (req.startMs < earliestServedMs) {
    log.warn(
      {
        requestedStart: new Date(req.startMs).toISOString(),
        earliestServed: new Date(earliestServedMs).toISOString(),
      },
      `Kraken serves only the most recent ${OHLC_MAX_ROWS} OHLC rows (${req.intervalMinutes}m interval: from about ${new Date(earliestServedMs).toISOString()}); ` +
        `candles before that cannot be fetched from the OHLC endpoint. Backfill trades instead and build the candles from them.`,
    );
  }

  const cp = await loadOhlcCursor(req, log);
  // since is exclusive: one second early includes the candle opening exactly at startMs.
  let since = cp?.since ?? Math.floor(req.startMs / 1000) - 1;
  let lastRowTimeMs = cp?.lastRowTimeMs ?? null;
  let coveredMs = cp?.coveredMs ?? req.startMs;
  const rowsOut: OhlcRow[] = [];
  const result: OhlcBackfillResult = {
    status: 'complete',
    pages: 0,
    emitted: 0,
    duplicates: 0,
    rejected: 0,
    resumedFrom: cp ? String(cp.since) : null,
    cursor: String(since),
    rows: rowsOut,
  };
  const progress = ctx.progress(`backfill OHLC ${req.pair} ${req.intervalMinutes}m`, req.startMs, endMs, log);
  try {
    progress.update(coveredMs, { pages: 0 });
    for (;;) {
      if (signal.aborted) return { ...result, status: 'aborted', cursor: String(since) };
      let page: Record<string, unknown>;
      try {
        page = await ctx.api.get(
          'OHLC',
          { pair: restPair, interval: String(req.intervalMinutes), since: String(since) },
          req.pair,
          signal,
        );
      } catch (err) {
        if (err instanceof Aborted) return { ...result, status: 'aborted', cursor: String(since) };
        throw err;
      }
      const { rows, last } = splitResult(page);
      // The last entry is the current, not-yet-committed candle (documented): never emit it.
      const committed = rows.slice(0, -1);
      const pageRows: OhlcRow[] = [];
      let reachedEnd = false;
      for (const row of committed) {
        const parsed = parseOhlcRow(row);
        if (!parsed.ok) {
          rejectRow(result, parsed, 'OHLC', log);
          continue;
        }
        const candle = parsed.value;
        if (candle.time > endMs) {
          reachedEnd = true;
          break;
        }
        if (candle.time < req.startMs) continue;
        if (lastRowTimeMs !== null && candle.time <= lastRowTimeMs) {
          result.duplicates += 1;
          continue;
        }
        lastRowTimeMs = candle.time;
        pageRows.push(candle);
      }
      const nextSince = last !== null && /^\d+$/.test(last) ? Number(last) : null;
      const progressed = nextSince !== null && nextSince > since;
      if (pageRows.length > 0 && onRows) await onRows(pageRows);
      rowsOut.push(...pageRows);
      result.emitted += pageRows.length;
      result.pages += 1;
      if (lastRowTimeMs !== null) coveredMs = Math.max(coveredMs, lastRowTimeMs + intervalMs);
      if (progressed) since = nextSince;
      result.cursor = String(since);
      if (req.checkpointPath) {
        await saveOhlcCursor(
          req.checkpointPath,
          {
            pair: req.pair,
            intervalMinutes: req.intervalMinutes,
            startMs: req.startMs,
            since,
            lastRowTimeMs,
            coveredMs,
          },
          ctx.now(),
        );
      }
      const done = reachedEnd || pageRows.length === 0 || !progressed;
      progress.update(done ? endMs : coveredMs, { pages: result.pages, candles: result.emitted });
      if (done) break;
    }
    log.info(
      { pages: result.pages, candles: result.emitted, rejected: result.rejected },
      `OHLC backfill for ${req.pair} complete`,
    );
    return result;
  } finally {
    progress.stop();
  }
}
