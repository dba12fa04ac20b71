/**
 * Kraken REST backfill: historical trades (Trades endpoint) and candles (OHLC endpoint), as a
 * client for the CLI and as a TradeSource. This module wires the pieces in `kraken-rest/`:
 *  - rows.ts: Kraken's rows read into tickcast Trades and candles;
 *  - http.ts: one GET and the classification of its answer;
 *  - rate-limit.ts: client-side pacing under Kraken's call counter;
 *  - public-api.ts: pacing and retries around http.ts;
 *  - trades.ts, ohlc.ts: the two paginated backfills;
 *  - cursor.ts: the resumable cursor saved after every page.
 * Progress (a bar or log lines) is ./progress.ts.
 *
 * Rate limits: public endpoints are limited per IP (and per pair for Trades/OHLC); "calling the
 * public endpoints at a frequency of 1 per second (or less) would remain within the rate
 * limits". The default pacing is therefore 1 call of burst refilled at 1/s.
 * https://support.kraken.com/articles/206548367-what-are-the-api-rate-limits
 * https://docs.kraken.com/exchange/guides/rest/ratelimits.md
 */
import { rootLogger, type Logger } from '../../lib/logger.ts';
import type { Pair } from '../../schema/events.ts';
import type { BackfillContext, BackfillResult } from './kraken-rest/backfill.ts';
import { backfillOhlc, type OhlcBackfillRequest, type OhlcBackfillResult } from './kraken-rest/ohlc.ts';
import { KrakenPublicApi, type RetryOptions } from './kraken-rest/public-api.ts';
import { TokenBucket, type RateLimitOptions } from './kraken-rest/rate-limit.ts';
import { KRAKEN_REST_SOURCE, type OhlcRow } from './kraken-rest/rows.ts';
import { backfillTrades, type TradesBackfillRequest } from './kraken-rest/trades.ts';
import { BackfillProgress, type ProgressMode } from './progress.ts';
import type { MarketSink, TradeSource } from './source.ts';

export const KRAKEN_REST_URL = 'https://api.kraken.com';

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

export class KrakenRestClient {
  private readonly backfill: BackfillContext;

  constructor(options: KrakenRestOptions = {}) {
    const now = options.now ?? Date.now;
    const log = (options.logger ?? rootLogger).child({ module: 'source.kraken-rest' });
    const progressMode = options.progress ?? 'auto';
    const progressLogEveryMs = options.progressLogEveryMs ?? 10_000;
    const api = new KrakenPublicApi({
      baseUrl: (options.baseUrl ?? KRAKEN_REST_URL).replace(/\/+$/, ''),
      timeoutMs: options.requestTimeoutMs ?? 15_000,
      bucket: new TokenBucket(options.rateLimit?.capacity ?? 1, options.rateLimit?.refillPerSec ?? 1, now),
      retry: {
        initialDelayMs: 1_000,
        maxDelayMs: 60_000,
        multiplier: 2,
        jitter: 0.3,
        maxAttempts: 8,
        ...options.retry,
      },
      random: options.random ?? Math.random,
      log,
    });
    this.backfill = {
      api,
      log,
      now,
      progress: (label, startMs, endMs, logger) =>
        new BackfillProgress({
          mode: progressMode,
          label,
          startMs,
          endMs,
          logger,
          logEveryMs: progressLogEveryMs,
          now,
        }),
    };
  }

  /**
   * Emits every trade of `pair` with time in [startMs, endMs] to `sink`, page by page (each page
   * followed by a Clock unless disabled). Resolves with status 'aborted' when `signal` aborts;
   * rejects with a TickcastError when Kraken refuses the request or keeps failing.
   */
  backfillTrades(req: TradesBackfillRequest, sink: MarketSink, signal: AbortSignal): Promise<BackfillResult> {
    return backfillTrades(this.backfill, req, sink, signal);
  }

  /**
   * Fetches committed candles of `pair` with open time in [startMs, endMs]. Kraken serves only the
   * most recent 720 candles per interval: an older start is logged as a warning and the rows
   * start where Kraken's data does. `onRows` (optional) receives each page as it arrives.
   */
  backfillOhlc(
    req: OhlcBackfillRequest,
    signal: AbortSignal,
    onRows?: (rows: OhlcRow[]) => Promise<void>,
  ): Promise<OhlcBackfillResult> {
    return backfillOhlc(this.backfill, req, signal, onRows);
  }
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
  readonly name = KRAKEN_REST_SOURCE;
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
