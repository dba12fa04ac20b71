/**
 * Kraken's public endpoints with pacing and retries: every call first takes a token from the
 * bucket (rate-limit.ts); a rate-limited or unavailable answer (http.ts) is retried after the
 * shared capped, jittered backoff (lib/backoff.ts) or the Retry-After Kraken sent, whichever is
 * longer, up to `maxAttempts`. A rate-limit answer also empties the bucket, so the calls after
 * the retry slow down too.
 */
import { backoffDelay, sleep, type BackoffPolicy } from '../../../lib/backoff.ts';
import { TickcastError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/logger.ts';
import type { Pair } from '../../../schema/events.ts';
import { restRetries } from '../metrics.ts';
import { Aborted, getPublic, type KrakenEndpoint } from './http.ts';
import type { TokenBucket } from './rate-limit.ts';
import { KRAKEN_REST_SOURCE } from './rows.ts';

export interface RetryOptions extends BackoffPolicy {
  /** Total attempts per request, including the first. */
  maxAttempts: number;
}

export interface KrakenPublicApiOptions {
  /** Without a trailing slash. */
  baseUrl: string;
  /** Per attempt. */
  timeoutMs: number;
  bucket: TokenBucket;
  retry: RetryOptions;
  random: () => number;
  log: Logger;
}

export class KrakenPublicApi {
  constructor(private readonly options: KrakenPublicApiOptions) {}

  /**
   * GETs `endpoint` until Kraken answers: each attempt waits for the bucket, a retriable answer
   * waits the longer of its Retry-After and the backoff. Returns `result`; throws Aborted when
   * `signal` aborts, a TickcastError on a refusal or after the last attempt.
   */
  async get(
    endpoint: KrakenEndpoint,
    params: Record<string, string>,
    pair: Pair,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const url = `${this.options.baseUrl}/0/public/${endpoint}?${new URLSearchParams(params).toString()}`;
    for (let attempt = 1; ; attempt++) {
      await this.options.bucket.take(signal);
      if (signal.aborted) throw new Aborted();
      const outcome = await getPublic(
        { url, endpoint, params, pair, timeoutMs: this.options.timeoutMs, log: this.options.log },
        signal,
      );
      if (outcome.kind === 'ok') return outcome.result;
      if (outcome.code === 'RATE_LIMITED') this.options.bucket.drain();
      if (attempt >= this.options.retry.maxAttempts) {
        throw new TickcastError(
          outcome.code,
          `Kraken ${endpoint} for ${params['pair']} still failing after ${attempt} attempts (${outcome.reason}). ` +
            (outcome.code === 'RATE_LIMITED'
              ? 'Kraken allows about 1 public call per second per IP; lower rateLimit.refillPerSec or wait a few minutes before retrying.'
              : 'Kraken may be in maintenance (https://status.kraken.com); retry later. The checkpoint lets the backfill resume where it stopped.'),
        );
      }
      const delayMs = Math.max(
        outcome.retryAfterMs,
        backoffDelay(attempt - 1, this.options.retry, this.options.random),
      );
      restRetries.inc({
        source: KRAKEN_REST_SOURCE,
        reason: outcome.code === 'RATE_LIMITED' ? 'rate_limited' : 'unavailable',
      });
      this.options.log.warn(
        { endpoint, pair: params['pair'], reason: outcome.reason, attempt, delayMs },
        `Kraken ${endpoint} ${outcome.code === 'RATE_LIMITED' ? 'rate limited us' : 'unavailable'} (${outcome.reason}); retrying in ${delayMs} ms`,
      );
      await sleep(delayMs, signal);
      if (signal.aborted) throw new Aborted();
    }
  }
}
