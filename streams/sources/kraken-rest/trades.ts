/**
 * Trades backfill: pages through Kraken's Trades endpoint from a start to an end time and hands
 * each page's trades (and a Clock) to the sink, saving the cursor after every page.
 *
 * GET /0/public/Trades?pair=XBTUSD&since=<ns>&count=<n>: up to 1000 rows keyed by Kraken's pair
 * name (e.g. "XXBTZUSD", not necessarily the name sent) plus `last`, a nanosecond timestamp
 * string to pass as the next `since`.
 * https://docs.kraken.com/api/docs/rest-api/get-recent-trades/
 * https://docs.kraken.com/exchange/guides/general/historical-data
 */
import { TickcastError } from '../../../lib/errors.ts';
import { pairSchema, type Clock, type MarketEvent, type Pair, type Trade } from '../../../schema/events.ts';
import { toRestPair } from '../kraken-pairs.ts';
import { clocksEmitted, duplicateTrades, tradesEmitted } from '../metrics.ts';
import type { MarketSink } from '../source.ts';
import { rejectRow, type BackfillContext, type BackfillResult } from './backfill.ts';
import { loadTradesCursor, msToNs, nsToMs, saveTradesCursor } from './cursor.ts';
import { Aborted } from './http.ts';
import { KRAKEN_REST_SOURCE, parseTradeRow, splitResult } from './rows.ts';

/** Maximum `count` for the Trades endpoint. */
export const TRADES_MAX_COUNT = 1000;

export interface TradesBackfillRequest {
  pair: Pair;
  /** Inclusive start, epoch ms. */
  startMs: number;
  /** Inclusive end, epoch ms. Trades after it are not emitted. */
  endMs: number;
  /** JSON file holding the cursor; resumed from when present. */
  checkpointPath?: string;
  /** Trades per request (`count`), at most 1000. Default 1000. */
  pageSize?: number;
  /** Emit a Clock after each page (everything up to it has been delivered). Default true. */
  emitClocks?: boolean;
}

/**
 * Emits every trade of `pair` with time in [startMs, endMs] to `sink`, page by page (each page
 * followed by a Clock unless disabled). Resolves with status 'aborted' when `signal` aborts;
 * rejects with a TickcastError when Kraken refuses the request or keeps failing.
 */
export async function backfillTrades(
  ctx: BackfillContext,
  req: TradesBackfillRequest,
  sink: MarketSink,
  signal: AbortSignal,
): Promise<BackfillResult> {
  pairSchema.parse(req.pair);
  if (!(req.endMs >= req.startMs))
    throw new TickcastError('CONFIG_INVALID', `backfill end ${req.endMs} is before start ${req.startMs}`);
  const restPair = toRestPair(req.pair);
  const pageSize = Math.min(TRADES_MAX_COUNT, Math.max(1, req.pageSize ?? TRADES_MAX_COUNT));
  const emitClocks = req.emitClocks ?? true;
  const log = ctx.log.child({ pair: req.pair, restPair, endpoint: 'Trades' });

  const cp = await loadTradesCursor(req, log);
  // since is exclusive: start one nanosecond early so a trade exactly at startMs is included.
  let since = cp?.since ?? (msToNs(req.startMs) - 1n).toString();
  let lastTradeId = cp?.lastTradeId ?? null;
  let coveredMs = cp?.coveredMs ?? req.startMs;
  const result: BackfillResult = {
    status: 'complete',
    pages: 0,
    emitted: 0,
    duplicates: 0,
    rejected: 0,
    resumedFrom: cp?.since ?? null,
    cursor: since,
  };

  const progress = ctx.progress(`backfill trades ${req.pair}`, req.startMs, req.endMs, log);
  log.info({ startMs: req.startMs, endMs: req.endMs, since, resumed: cp !== null }, `backfilling ${req.pair} trades`);
  try {
    progress.update(coveredMs, { pages: 0 });
    // Ends when a trade past endMs shows up or Kraken has nothing newer (caught up).
    for (;;) {
      if (signal.aborted) return { ...result, status: 'aborted', cursor: since };
      let page: Record<string, unknown>;
      try {
        page = await ctx.api.get('Trades', { pair: restPair, since, count: String(pageSize) }, req.pair, signal);
      } catch (err) {
        if (err instanceof Aborted) return { ...result, status: 'aborted', cursor: since };
        throw err;
      }
      const { rows, last } = splitResult(page);
      const nextSince = last !== null && /^\d+$/.test(last) ? last : null;

      const trades: Trade[] = [];
      let reachedEnd = false;
      for (const row of rows) {
        const parsed = parseTradeRow(row, req.pair);
        if (!parsed.ok) {
          rejectRow(result, parsed, 'trade', log);
          continue;
        }
        const trade = parsed.value;
        if (trade.time > req.endMs) {
          reachedEnd = true;
          break;
        }
        if (lastTradeId !== null && trade.tradeId <= lastTradeId) {
          result.duplicates += 1;
          duplicateTrades.inc({ source: KRAKEN_REST_SOURCE, pair: req.pair });
          continue;
        }
        lastTradeId = trade.tradeId;
        trades.push(trade);
      }

      const caughtUp = rows.length === 0 || nextSince === null || BigInt(nextSince) <= BigInt(since);
      let clockTime: number;
      if (reachedEnd) {
        coveredMs = req.endMs;
        // Resume later from the end; trade ids dedupe anything at the boundary.
        const endNs = msToNs(req.endMs);
        since = (endNs > BigInt(since) ? endNs : BigInt(since)).toString();
        clockTime = req.endMs;
      } else if (caughtUp) {
        clockTime = coveredMs;
      } else {
        since = nextSince;
        coveredMs = Math.min(req.endMs, Math.max(coveredMs, nsToMs(nextSince)));
        // Another trade in the same millisecond may come with the next page.
        clockTime = Math.max(req.startMs, coveredMs - 1);
      }

      const events: MarketEvent[] = [...trades];
      const clock: Clock | null =
        emitClocks && clockTime > 0
          ? { v: 1, kind: 'clock', pair: req.pair, time: clockTime, source: KRAKEN_REST_SOURCE }
          : null;
      if (clock) events.push(clock);
      if (events.length > 0) await sink(events);
      if (trades.length > 0) tradesEmitted.inc({ source: KRAKEN_REST_SOURCE, pair: req.pair }, trades.length);
      if (clock) clocksEmitted.inc({ source: KRAKEN_REST_SOURCE, pair: req.pair });
      result.emitted += trades.length;
      result.pages += 1;
      result.cursor = since;

      if (req.checkpointPath) {
        await saveTradesCursor(
          req.checkpointPath,
          { pair: req.pair, startMs: req.startMs, endMs: req.endMs, since, lastTradeId, coveredMs },
          ctx.now(),
        );
      }
      progress.update(caughtUp ? req.endMs : coveredMs, { pages: result.pages, trades: result.emitted });
      if (reachedEnd) break;
      if (caughtUp) {
        log.info(
          { coveredUntil: new Date(coveredMs).toISOString() },
          `caught up with Kraken's newest ${req.pair} trade before the requested end; stopping`,
        );
        break;
      }
    }
    log.info(
      { pages: result.pages, trades: result.emitted, duplicates: result.duplicates, rejected: result.rejected },
      `trades backfill for ${req.pair} complete`,
    );
    return result;
  } finally {
    progress.stop();
  }
}
