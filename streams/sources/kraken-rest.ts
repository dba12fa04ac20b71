/**
 * Kraken REST backfill: historical trades (Trades endpoint) and candles (OHLC endpoint).
 *
 * Protocol followed (Kraken docs):
 *  - GET /0/public/Trades?pair=XBTUSD&since=<ns>&count=<n>: result keyed by Kraken's pair name
 *    (e.g. "XXBTZUSD", not necessarily the name sent) plus `last`, a nanosecond timestamp string
 *    to pass as the next `since`; rows [price, volume, time (float seconds), "b"|"s",
 *    "m"|"l", misc, trade_id]; up to 1000 per call.
 *    https://docs.kraken.com/api/docs/rest-api/get-recent-trades/
 *    https://docs.kraken.com/exchange/guides/general/historical-data
 *    https://support.kraken.com/hc/en-us/articles/218198197 (since = UNIX time in ns)
 *  - GET /0/public/OHLC?pair=XBTUSD&interval=<min>&since=<s>: rows [time, open, high, low, close,
 *    vwap, volume, count] (strings except time and count) plus `last`; "Returns up to 720 of the
 *    most recent entries (older data cannot be retrieved, regardless of the value of since)" and
 *    "the last entry in the OHLC array is for the current, not-yet-committed timeframe".
 *    https://docs.kraken.com/api-reference/market-data/get-ohlc-data.md
 *  - Errors: HTTP 200 with `{"error":["<E|W><Category>:<message>"],"result":{}}`, e.g.
 *    "EQuery:Unknown asset pair", "EAPI:Rate limit exceeded", "EService:Unavailable"; W-prefixed
 *    entries are warnings. https://support.kraken.com/hc/en-us/articles/360001491786-API-error-messages
 *  - Rate limits: public endpoints are limited per IP (and per pair for Trades/OHLC); "calling the
 *    public endpoints at a frequency of 1 per second (or less) would remain within the rate
 *    limits". The private scheme is a call counter that each call raises by 1 and that decays
 *    per second, calls failing once it passes a maximum.
 *    https://support.kraken.com/articles/206548367-what-are-the-api-rate-limits
 *    https://docs.kraken.com/exchange/guides/rest/ratelimits.md
 *    We model the same counter as a token bucket: `capacity` = max counter, `refillPerSec` =
 *    decay; default 1 call of burst refilled at 1/s. On a rate-limit answer the bucket is also
 *    emptied, so the calls after the retry slow down too.
 *
 * Resumable: after every page handed to the sink, the cursor (`since`, last trade id, time
 * covered) is written to a JSON checkpoint; a restarted backfill with the same pair and start
 * continues from it (the end may differ: a later end simply continues further).
 */
import { z } from 'zod';
import { TickcastError } from '../../lib/errors.ts';
import { rootLogger, type Logger } from '../../lib/logger.ts';
import { pairSchema, tradeSchema, type Clock, type MarketEvent, type Pair, type Trade } from '../../schema/events.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../lib/backoff.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { toRestPair } from './kraken-pairs.ts';
import {
  clocksEmitted,
  duplicateTrades,
  framesRejected,
  restRequests,
  restRequestSeconds,
  restRetries,
  tradesEmitted,
} from './metrics.ts';
import { BackfillProgress, type ProgressMode } from './progress.ts';
import type { MarketSink, TradeSource } from './source.ts';

export const KRAKEN_REST_URL = 'https://api.kraken.com';
const SOURCE = 'kraken-rest' as const;

/** Documented OHLC intervals, in minutes. */
export const OHLC_INTERVALS = [1, 5, 15, 30, 60, 240, 1440, 10080, 21600] as const;
/** Kraken serves only this many most recent OHLC rows per pair and interval. */
export const OHLC_MAX_ROWS = 720;
/** Maximum `count` for the Trades endpoint. */
export const TRADES_MAX_COUNT = 1000;

/** One candle as served by Kraken's OHLC endpoint, with time converted to epoch ms. */
export interface OhlcRow {
  /** Candle open time, epoch ms. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  vwap: number;
  volume: number;
  count: number;
}

export interface RateLimitOptions {
  /** Burst size: Kraken's maximum counter for the endpoint class. */
  capacity: number;
  /** Calls regained per second: Kraken's counter decay. */
  refillPerSec: number;
}

export interface RetryOptions extends BackoffPolicy {
  /** Total attempts per request, including the first. */
  maxAttempts: number;
}

export interface KrakenRestOptions {
  /** Default https://api.kraken.com. */
  baseUrl?: string;
  /** Per-request timeout. Default 15 s. */
  requestTimeoutMs?: number;
  rateLimit?: Partial<RateLimitOptions>;
  retry?: Partial<RetryOptions>;
  /** 'auto' (default): a bar when stderr is a TTY, log lines otherwise. */
  progress?: ProgressMode;
  /** Minimum spacing of progress log lines. Default 10 s. */
  progressLogEveryMs?: number;
  logger?: Logger;
  now?: () => number;
  random?: () => number;
}

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

export interface BackfillResult {
  status: 'complete' | 'aborted';
  pages: number;
  /** Items delivered by this run (trades or candles). */
  emitted: number;
  duplicates: number;
  rejected: number;
  /** Cursor this run started from when it resumed a checkpoint, else null. */
  resumedFrom: string | null;
  /** Cursor after the last page (Trades: ns timestamp string; OHLC: seconds). */
  cursor: string;
}

export interface OhlcBackfillResult extends BackfillResult {
  /** Committed candles fetched by this run, ascending by time. */
  rows: OhlcRow[];
}

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
type TradesCheckpoint = z.infer<typeof tradesCheckpointSchema>;

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
type OhlcCheckpoint = z.infer<typeof ohlcCheckpointSchema>;

const envelopeSchema = z.looseObject({
  error: z.array(z.string()).optional(),
  result: z.unknown().optional(),
});

const decimal = z.string().regex(/^\d+(\.\d+)?$/, 'a decimal string');
const secondsValue = z.union([z.number(), z.string()]);

/** Errors that mean "slow down": retried after a backoff, bucket emptied. */
const RATE_LIMIT_ERRORS = new Set(['EAPI:Rate limit exceeded', 'EGeneral:Too many requests']);
/** Errors that mean "Kraken is having trouble": retried after a backoff. */
const UNAVAILABLE_ERRORS = new Set([
  'EService:Unavailable',
  'EService:Busy',
  'EGeneral:Internal error',
  'EService:Deadline elapsed',
]);

class Aborted extends Error {
  constructor() {
    super('aborted');
  }
}

/**
 * Kraken's call counter as a token bucket: each call takes a token, tokens come back at
 * `refillPerSec` up to `capacity`.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly capacity: number,
    private readonly refillPerSec: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(capacity >= 1) || !(refillPerSec > 0))
      throw new Error('token bucket needs capacity >= 1 and refillPerSec > 0');
    this.tokens = capacity;
    this.updatedAt = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.updatedAt) / 1000) * this.refillPerSec);
    this.updatedAt = t;
  }

  /** Waits for a token. Returns early (without one) if `signal` aborts; callers check it. */
  async take(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return;
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.refillPerSec) * 1000), signal);
    }
  }

  /** The server said we are over the limit: start again from an empty bucket. */
  drain(): void {
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
  }
}

/** Float seconds (number or string) to epoch ms, truncating below the millisecond. */
export function secondsToMs(value: number | string): number | null {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value.trim();
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (m) return Number(m[1]) * 1000 + Number(`${m[2] ?? ''}000`.slice(0, 3));
  // Kraken writes times as plain decimals; Number() would also read "0x1A", "1e3" or "Infinity".
  if (typeof value === 'string') return null;
  const n = Number(text);
  return text !== '' && Number.isFinite(n) && n >= 0 ? Math.floor(n * 1000) : null;
}

function msToNs(ms: number): bigint {
  return BigInt(Math.floor(ms)) * 1_000_000n;
}

function nsToMs(ns: string): number {
  return Number(BigInt(ns) / 1_000_000n);
}

type RejectReason = 'bad_shape' | 'invalid_price' | 'invalid_qty' | 'bad_timestamp' | 'invalid_trade';
type RowResult<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

function positiveDecimal(value: unknown): number | null {
  if (typeof value !== 'string' || !decimal.safeParse(value).success) return null;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** One row of the Trades result to a tickcast Trade. */
export function parseTradeRow(row: unknown, pair: Pair): RowResult<Trade> {
  if (!Array.isArray(row) || row.length < 7) {
    return {
      ok: false,
      reason: 'bad_shape',
      detail: 'trade row is not [price, volume, time, side, type, misc, trade_id]',
    };
  }
  const [priceRaw, volumeRaw, timeRaw, sideRaw, , , idRaw] = row as unknown[];
  if (typeof idRaw !== 'number' || !Number.isInteger(idRaw) || idRaw < 0) {
    return {
      ok: false,
      reason: 'bad_shape',
      detail: `trade_id ${JSON.stringify(idRaw)} is not a non-negative integer`,
    };
  }
  if (sideRaw !== 'b' && sideRaw !== 's')
    return { ok: false, reason: 'bad_shape', detail: `side ${JSON.stringify(sideRaw)} is not "b" or "s"` };
  const price = positiveDecimal(priceRaw);
  if (price === null)
    return { ok: false, reason: 'invalid_price', detail: `price ${JSON.stringify(priceRaw)} (trade_id ${idRaw})` };
  const qty = positiveDecimal(volumeRaw);
  if (qty === null)
    return { ok: false, reason: 'invalid_qty', detail: `volume ${JSON.stringify(volumeRaw)} (trade_id ${idRaw})` };
  const t = secondsValue.safeParse(timeRaw);
  const time = t.success ? secondsToMs(t.data) : null;
  if (time === null)
    return { ok: false, reason: 'bad_timestamp', detail: `time ${JSON.stringify(timeRaw)} (trade_id ${idRaw})` };
  const trade = tradeSchema.safeParse({
    v: 1,
    kind: 'trade',
    pair,
    tradeId: idRaw,
    price,
    qty,
    side: sideRaw === 'b' ? 'buy' : 'sell',
    time,
    source: SOURCE,
  });
  if (!trade.success)
    return { ok: false, reason: 'invalid_trade', detail: z.prettifyError(trade.error).replace(/\n/g, '; ') };
  return { ok: true, value: trade.data };
}

/** One row of the OHLC result to an OhlcRow. */
export function parseOhlcRow(row: unknown): RowResult<OhlcRow> {
  if (!Array.isArray(row) || row.length < 8) {
    return {
      ok: false,
      reason: 'bad_shape',
      detail: 'OHLC row is not [time, open, high, low, close, vwap, volume, count]',
    };
  }
  const [timeRaw, o, h, l, c, vw, vol, countRaw] = row as unknown[];
  // In milliseconds it must still be an exact integer: an absurd time would read as "past the end" and stop a backfill.
  if (
    typeof timeRaw !== 'number' ||
    !Number.isInteger(timeRaw) ||
    timeRaw < 0 ||
    !Number.isSafeInteger(timeRaw * 1000)
  ) {
    return { ok: false, reason: 'bad_timestamp', detail: `time ${JSON.stringify(timeRaw)}` };
  }
  const prices = [o, h, l, c, vw].map(positiveDecimal);
  if (prices.some((p) => p === null))
    return {
      ok: false,
      reason: 'invalid_price',
      detail: `OHLC prices ${JSON.stringify([o, h, l, c, vw])} at ${timeRaw}`,
    };
  const volume = typeof vol === 'string' && decimal.safeParse(vol).success ? Number(vol) : NaN;
  if (!Number.isFinite(volume) || volume < 0)
    return { ok: false, reason: 'invalid_qty', detail: `volume ${JSON.stringify(vol)} at ${timeRaw}` };
  if (typeof countRaw !== 'number' || !Number.isInteger(countRaw) || countRaw < 0) {
    return { ok: false, reason: 'bad_shape', detail: `count ${JSON.stringify(countRaw)} at ${timeRaw}` };
  }
  const [open, high, low, close, vwap] = prices as [number, number, number, number, number];
  return { ok: true, value: { time: timeRaw * 1000, open, high, low, close, vwap, volume, count: countRaw } };
}

type Attempt =
  | { kind: 'ok'; result: Record<string, unknown> }
  | { kind: 'retry'; code: 'RATE_LIMITED' | 'UPSTREAM_UNAVAILABLE'; reason: string; retryAfterMs: number };

export class KrakenRestClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly bucket: TokenBucket;
  private readonly retry: RetryOptions;
  private readonly progressMode: ProgressMode;
  private readonly progressLogEveryMs: number;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: KrakenRestOptions = {}) {
    this.baseUrl = (options.baseUrl ?? KRAKEN_REST_URL).replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.bucket = new TokenBucket(options.rateLimit?.capacity ?? 1, options.rateLimit?.refillPerSec ?? 1, this.now);
    this.retry = {
      initialDelayMs: 1_000,
      maxDelayMs: 60_000,
      multiplier: 2,
      jitter: 0.3,
      maxAttempts: 8,
      ...options.retry,
    };
    this.progressMode = options.progress ?? 'auto';
    this.progressLogEveryMs = options.progressLogEveryMs ?? 10_000;
    this.log = (options.logger ?? rootLogger).child({ module: 'source.kraken-rest' });
  }

  /**
   * Emits every trade of `pair` with time in [startMs, endMs] to `sink`, page by page (each page
   * followed by a Clock unless disabled). Resolves with status 'aborted' when `signal` aborts;
   * rejects with a TickcastError when Kraken refuses the request or keeps failing.
   */
  async backfillTrades(req: TradesBackfillRequest, sink: MarketSink, signal: AbortSignal): Promise<BackfillResult> {
    pairSchema.parse(req.pair);
    if (!(req.endMs >= req.startMs))
      throw new TickcastError('CONFIG_INVALID', `backfill end ${req.endMs} is before start ${req.startMs}`);
    const restPair = toRestPair(req.pair);
    const pageSize = Math.min(TRADES_MAX_COUNT, Math.max(1, req.pageSize ?? TRADES_MAX_COUNT));
    const emitClocks = req.emitClocks ?? true;
    const log = this.log.child({ pair: req.pair, restPair, endpoint: 'Trades' });

    const cp = req.checkpointPath ? await this.loadTradesCheckpoint(req, log) : null;
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

    const progress = this.progress(`backfill trades ${req.pair}`, req.startMs, req.endMs, log);
    log.info({ startMs: req.startMs, endMs: req.endMs, since, resumed: cp !== null }, `backfilling ${req.pair} trades`);
    try {
      progress.update(coveredMs, { pages: 0 });
      // Ends when a trade past endMs shows up or Kraken has nothing newer (caught up).
      for (;;) {
        if (signal.aborted) return { ...result, status: 'aborted', cursor: since };
        let page: Record<string, unknown>;
        try {
          page = await this.request('Trades', { pair: restPair, since, count: String(pageSize) }, req.pair, signal);
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
            result.rejected += 1;
            framesRejected.inc({ source: SOURCE, reason: parsed.reason });
            log.warn(
              { reason: parsed.reason, detail: parsed.detail },
              `rejected malformed Kraken trade row (${parsed.reason}): ${parsed.detail}`,
            );
            continue;
          }
          const trade = parsed.value;
          if (trade.time > req.endMs) {
            reachedEnd = true;
            break;
          }
          if (lastTradeId !== null && trade.tradeId <= lastTradeId) {
            result.duplicates += 1;
            duplicateTrades.inc({ source: SOURCE, pair: req.pair });
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
          emitClocks && clockTime > 0 ? { v: 1, kind: 'clock', pair: req.pair, time: clockTime, source: SOURCE } : null;
        if (clock) events.push(clock);
        if (events.length > 0) await sink(events);
        if (trades.length > 0) tradesEmitted.inc({ source: SOURCE, pair: req.pair }, trades.length);
        if (clock) clocksEmitted.inc({ source: SOURCE, pair: req.pair });
        result.emitted += trades.length;
        result.pages += 1;
        result.cursor = since;

        if (req.checkpointPath) {
          const next: TradesCheckpoint = {
            v: 1,
            kind: 'trades',
            pair: req.pair,
            startMs: req.startMs,
            endMs: req.endMs,
            since,
            lastTradeId,
            coveredMs,
            updatedAt: new Date(this.now()).toISOString(),
          };
          await writeCheckpoint(req.checkpointPath, next);
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

  /**
   * Fetches committed candles of `pair` with open time in [startMs, endMs]. Kraken serves only the
   * most recent 720 candles per interval: an older start is logged as a warning and the rows
   * start where Kraken's data does. `onRows` (optional) receives each page as it arrives.
   */
  async backfillOhlc(
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
    const endMs = req.endMs ?? this.now();
    const log = this.log.child({ pair: req.pair, restPair, endpoint: 'OHLC', interval: req.intervalMinutes });

    const earliestServedMs = (Math.floor(this.now() / intervalMs) - (OHLC_MAX_ROWS - 1)) * intervalMs;
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

    const cp = req.checkpointPath ? await this.loadOhlcCheckpoint(req, log) : null;
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
    const progress = this.progress(`backfill OHLC ${req.pair} ${req.intervalMinutes}m`, req.startMs, endMs, log);
    try {
      progress.update(coveredMs, { pages: 0 });
      for (;;) {
        if (signal.aborted) return { ...result, status: 'aborted', cursor: String(since) };
        let page: Record<string, unknown>;
        try {
          page = await this.request(
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
            result.rejected += 1;
            framesRejected.inc({ source: SOURCE, reason: parsed.reason });
            log.warn(
              { reason: parsed.reason, detail: parsed.detail },
              `rejected malformed Kraken OHLC row (${parsed.reason}): ${parsed.detail}`,
            );
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
          const next: OhlcCheckpoint = {
            v: 1,
            kind: 'ohlc',
            pair: req.pair,
            intervalMinutes: req.intervalMinutes,
            startMs: req.startMs,
            since,
            lastRowTimeMs,
            coveredMs,
            updatedAt: new Date(this.now()).toISOString(),
          };
          await writeCheckpoint(req.checkpointPath, next);
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

  private progress(label: string, startMs: number, endMs: number, logger: Logger): BackfillProgress {
    return new BackfillProgress({
      mode: this.progressMode,
      label,
      startMs,
      endMs,
      logger,
      logEveryMs: this.progressLogEveryMs,
      now: this.now,
    });
  }

  private async loadTradesCheckpoint(req: TradesBackfillRequest, log: Logger): Promise<TradesCheckpoint | null> {
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

  private async loadOhlcCheckpoint(req: OhlcBackfillRequest, log: Logger): Promise<OhlcCheckpoint | null> {
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

  /** One public GET with rate limiting, timeout, retries and error classification. Returns `result`. */
  private async request(
    endpoint: 'Trades' | 'OHLC',
    params: Record<string, string>,
    pair: Pair,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const url = `${this.baseUrl}/0/public/${endpoint}?${new URLSearchParams(params).toString()}`;
    for (let attempt = 1; ; attempt++) {
      await this.bucket.take(signal);
      if (signal.aborted) throw new Aborted();
      const outcome = await this.attempt(url, endpoint, params, pair, signal);
      if (outcome.kind === 'ok') return outcome.result;
      if (outcome.code === 'RATE_LIMITED') this.bucket.drain();
      if (attempt >= this.retry.maxAttempts) {
        throw new TickcastError(
          outcome.code,
          `Kraken ${endpoint} for ${params['pair']} still failing after ${attempt} attempts (${outcome.reason}). ` +
            (outcome.code === 'RATE_LIMITED'
              ? 'Kraken allows about 1 public call per second per IP; lower rateLimit.refillPerSec or wait a few minutes before retrying.'
              : 'Kraken may be in maintenance (https://status.kraken.com); retry later. The checkpoint lets the backfill resume where it stopped.'),
        );
      }
      const delayMs = Math.max(outcome.retryAfterMs, backoffDelay(attempt - 1, this.retry, this.random));
      restRetries.inc({ source: SOURCE, reason: outcome.code === 'RATE_LIMITED' ? 'rate_limited' : 'unavailable' });
      this.log.warn(
        { endpoint, pair: params['pair'], reason: outcome.reason, attempt, delayMs },
        `Kraken ${endpoint} ${outcome.code === 'RATE_LIMITED' ? 'rate limited us' : 'unavailable'} (${outcome.reason}); retrying in ${delayMs} ms`,
      );
      await sleep(delayMs, signal);
      if (signal.aborted) throw new Aborted();
    }
  }

  private async attempt(
    url: string,
    endpoint: 'Trades' | 'OHLC',
    params: Record<string, string>,
    pair: Pair,
    signal: AbortSignal,
  ): Promise<Attempt> {
    const started = performance.now();
    const done = (outcome: string): void => {
      restRequests.inc({ source: SOURCE, endpoint, outcome });
      restRequestSeconds.observe({ source: SOURCE, endpoint }, (performance.now() - started) / 1000);
    };
    let status: number;
    let body: string;
    let retryAfterHeader: string | null;
    try {
      const res = await fetch(url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
        headers: { 'user-agent': 'tickcast/0.1 (+backfill)', accept: 'application/json' },
      });
      status = res.status;
      retryAfterHeader = res.headers.get('retry-after');
      body = await res.text();
    } catch (err) {
      if (signal.aborted) throw new Aborted();
      done('network_error');
      const e = err as Error;
      const reason =
        e.name === 'TimeoutError'
          ? `timed out after ${this.timeoutMs} ms`
          : `network error: ${(e.cause as Error | undefined)?.message ?? e.message}`;
      return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', reason, retryAfterMs: 0 };
    }
    const retryAfterMs = parseRetryAfter(retryAfterHeader);

    let json: unknown = undefined;
    try {
      json = JSON.parse(body);
    } catch {
      // handled below by status
    }
    const envelope = envelopeSchema.safeParse(json);
    const errors = envelope.success ? (envelope.data.error ?? []) : [];
    const fatal = errors.filter((e) => e.startsWith('E'));
    for (const w of errors.filter((e) => e.startsWith('W')))
      this.log.warn({ endpoint, warning: w }, `Kraken warning: ${w}`);

    if (status === 429 || fatal.some((e) => RATE_LIMIT_ERRORS.has(e))) {
      done('rate_limited');
      return { kind: 'retry', code: 'RATE_LIMITED', reason: fatal.join(', ') || `HTTP ${status}`, retryAfterMs };
    }
    if (status >= 500 || fatal.some((e) => UNAVAILABLE_ERRORS.has(e))) {
      done('unavailable');
      return {
        kind: 'retry',
        code: 'UPSTREAM_UNAVAILABLE',
        reason: fatal.join(', ') || `HTTP ${status}`,
        retryAfterMs,
      };
    }
    if (fatal.includes('EQuery:Unknown asset pair')) {
      done('rejected');
      throw new TickcastError(
        'UPSTREAM_REJECTED',
        `Kraken does not know the pair "${params['pair']}" (tickcast pair ${pair}): EQuery:Unknown asset pair. ` +
          `Check the pair name: tickcast writes pairs like BTC/USD and sends them to REST as XBTUSD. ` +
          `If this asset has its own legacy REST code, add it to V2_TO_REST_ASSET in streams/sources/kraken-pairs.ts. ` +
          `Valid pair names: https://api.kraken.com/0/public/AssetPairs`,
      );
    }
    if (fatal.length > 0) {
      done('rejected');
      throw new TickcastError(
        'UPSTREAM_REJECTED',
        `Kraken refused ${endpoint} ${new URLSearchParams(params).toString()}: ${fatal.join(', ')}. ` +
          (fatal.some((e) => e.startsWith('EGeneral:Invalid arguments'))
            ? 'Check the backfill parameters (pair, start time, interval).'
            : 'This is not retried; fix the request or report it if it persists.'),
      );
    }
    if (status >= 400) {
      done('rejected');
      throw new TickcastError(
        'UPSTREAM_REJECTED',
        `Kraken answered HTTP ${status} to ${endpoint} for ${params['pair']}: ${body.slice(0, 200)}`,
      );
    }
    if (!envelope.success || typeof envelope.data.result !== 'object' || envelope.data.result === null) {
      // A 200 without a Kraken envelope is usually a proxy/CDN page: treat it as a blip.
      done('unavailable');
      return {
        kind: 'retry',
        code: 'UPSTREAM_UNAVAILABLE',
        reason: `unexpected response body: ${body.slice(0, 80)}`,
        retryAfterMs,
      };
    }
    done('ok');
    return { kind: 'ok', result: envelope.data.result as Record<string, unknown> };
  }
}

/** Splits `result` into the pair's rows (whatever key Kraken used) and `last` as a string. */
function splitResult(result: Record<string, unknown>): { rows: unknown[]; last: string | null } {
  let rows: unknown[] = [];
  for (const [key, value] of Object.entries(result)) {
    if (key !== 'last' && Array.isArray(value)) {
      rows = value;
      break;
    }
  }
  const last = result['last'];
  return { rows, last: typeof last === 'string' || typeof last === 'number' ? String(last) : null };
}

function parseRetryAfter(value: string | null): number {
  if (value === null) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 300_000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, Math.min(at - Date.now(), 300_000)) : 0;
}

export interface KrakenRestTradeSourceOptions extends KrakenRestOptions {
  pairs: readonly Pair[];
  startMs: number;
  endMs: number;
  /** Directory for per-pair checkpoint files; none when omitted. */
  checkpointDir?: string;
  pageSize?: number;
}

/** Trade backfill as a TradeSource: pairs one after another; resolves when all are done or aborted. */
export class KrakenRestTradeSource implements TradeSource {
  readonly name = SOURCE;
  private readonly client: KrakenRestClient;

  constructor(private readonly options: KrakenRestTradeSourceOptions) {
    this.client = new KrakenRestClient(options);
  }

  async start(sink: MarketSink, signal: AbortSignal): Promise<void> {
    for (const pair of this.options.pairs) {
      if (signal.aborted) return;
      const req: TradesBackfillRequest = { pair, startMs: this.options.startMs, endMs: this.options.endMs };
      if (this.options.checkpointDir)
        req.checkpointPath = `${this.options.checkpointDir}/kraken-trades-${pair.replace('/', '-')}-${this.options.startMs}.json`;
      if (this.options.pageSize !== undefined) req.pageSize = this.options.pageSize;
      const result = await this.client.backfillTrades(req, sink, signal);
      if (result.status === 'aborted') return;
    }
  }
}
