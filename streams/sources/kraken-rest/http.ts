/**
 * One GET of a Kraken public endpoint and what its answer means: ok (the `result`), retry
 * (rate limited or Kraken unavailable, with the Retry-After it sent) or a refusal thrown as
 * UPSTREAM_REJECTED. Retrying and pacing are the caller's (public-api.ts).
 *
 * Kraken answers errors with HTTP 200 and `{"error":["<E|W><Category>:<message>"],"result":{}}`,
 * e.g. "EQuery:Unknown asset pair", "EAPI:Rate limit exceeded", "EService:Unavailable";
 * W-prefixed entries are warnings.
 * https://support.kraken.com/hc/en-us/articles/360001491786-API-error-messages
 */
import { z } from 'zod';
import { TickcastError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/logger.ts';
import { retryAfterMs as readRetryAfter } from '../../../lib/retry-after.ts';
import type { Pair } from '../../../schema/events.ts';
import { restRequests, restRequestSeconds } from '../metrics.ts';
import { KRAKEN_REST_SOURCE } from './rows.ts';

export type KrakenEndpoint = 'Trades' | 'OHLC';

const envelopeSchema = z.looseObject({
  error: z.array(z.string()).optional(),
  result: z.unknown().optional(),
});

/** Errors that mean "slow down": retried after a backoff, bucket emptied. */
const RATE_LIMIT_ERRORS = new Set(['EAPI:Rate limit exceeded', 'EGeneral:Too many requests']);
/** Errors that mean "Kraken is having trouble": retried after a backoff. */
const UNAVAILABLE_ERRORS = new Set([
  'EService:Unavailable',
  'EService:Busy',
  'EGeneral:Internal error',
  'EService:Deadline elapsed',
]);

/** The longest Retry-After honoured: Kraken's limits decay within minutes. */
const MAX_RETRY_AFTER_MS = 300_000;

/** The run's signal aborted during a request. */
export class Aborted extends Error {
  constructor() {
    super('aborted');
  }
}

export type Attempt =
  | { kind: 'ok'; result: Record<string, unknown> }
  | { kind: 'retry'; code: 'RATE_LIMITED' | 'UPSTREAM_UNAVAILABLE'; reason: string; retryAfterMs: number };

export interface PublicGet {
  url: string;
  endpoint: KrakenEndpoint;
  params: Record<string, string>;
  /** The tickcast pair, for the message of an unknown-pair refusal. */
  pair: Pair;
  timeoutMs: number;
  log: Logger;
}

/** One GET and the classification of its answer; throws Aborted if `signal` aborts during it. */
export async function getPublic(request: PublicGet, signal: AbortSignal): Promise<Attempt> {
  const { url, endpoint, params, pair, timeoutMs, log } = request;
  const started = performance.now();
  const done = (outcome: string): void => {
    restRequests.inc({ source: KRAKEN_REST_SOURCE, endpoint, outcome });
    restRequestSeconds.observe({ source: KRAKEN_REST_SOURCE, endpoint }, (performance.now() - started) / 1000);
  };
  let status: number;
  let body: string;
  let headers: Headers;
  try {
    const res = await fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      headers: { 'user-agent': 'tickcast/0.1 (+backfill)', accept: 'application/json' },
    });
    status = res.status;
    headers = res.headers;
    body = await res.text();
  } catch (err) {
    if (signal.aborted) throw new Aborted();
    done('network_error');
    const e = err as Error;
    const reason =
      e.name === 'TimeoutError'
        ? `timed out after ${timeoutMs} ms`
        : `network error: ${(e.cause as Error | undefined)?.message ?? e.message}`;
    return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', reason, retryAfterMs: 0 };
  }
  const retryAfterMs = readRetryAfter(headers, { maxMs: MAX_RETRY_AFTER_MS }) ?? 0;

  let json: unknown = undefined;
  try {
    json = JSON.parse(body);
  } catch {
    // handled below by status
  }
  const envelope = envelopeSchema.safeParse(json);
  const errors = envelope.success ? (envelope.data.error ?? []) : [];
  const fatal = errors.filter((e) => e.startsWith('E'));
  for (const w of errors.filter((e) => e.startsWith('W'))) log.warn({ endpoint, warning: w }, `Kraken warning: ${w}`);

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
