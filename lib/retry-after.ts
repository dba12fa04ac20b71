/**
 * The wait a server asks for with a 429 or 503 (Kraken REST, news APIs, the LLM endpoint).
 *
 *  - `retry-after-ms`: milliseconds, a non-negative decimal. Not standard; OpenAI and
 *    OpenAI-compatible servers send it beside `retry-after` with the finer value, so it wins.
 *  - `retry-after` (RFC 9110 10.2.3): delay-seconds (digits; a decimal fraction is also
 *    accepted, as some servers send one) or an HTTP-date in any of the three forms a recipient
 *    must accept (5.6.7): IMF-fixdate, obsolete RFC 850, asctime. A date in the past is 0.
 *
 * Anything else is unreadable: undefined, and the caller's own backoff decides. The HTTP-date
 * forms are matched before Date.parse reads them because Date.parse alone also reads "5" or
 * "-1" as dates in 2001.
 *
 * Every answer is bounded (default MAX_RETRY_AFTER_MS): a misconfigured server's "come back in
 * a month" must not park a source that long, and a timer over 2^31-1 ms fires at once in Node.
 */

/** Default upper bound for a server-requested wait: one hour. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** What is read from a response: fetch's Headers, or the openai client's error headers. */
export interface HeaderSource {
  get(name: string): string | null;
}

export interface RetryAfterOptions {
  /** The time a date is measured from, epoch ms. Default Date.now(). */
  readonly now?: number;
  /** Upper bound of the answer, ms. Default MAX_RETRY_AFTER_MS. */
  readonly maxMs?: number;
}

const DECIMAL = /^\d+(?:\.\d+)?$/;
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
const HTTP_DATE = new RegExp(
  [
    `^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`, // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    `^${LONG_DAY}, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`, // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    `^${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`, // asctime: Sun Nov  6 08:49:37 1994
  ].join('|'),
);

/** The wait in ms the headers ask for, bounded; undefined when they ask none or it is unreadable. */
export function retryAfterMs(headers: HeaderSource | undefined, options: RetryAfterOptions = {}): number | undefined {
  if (!headers) return undefined;
  const maxMs = options.maxMs ?? MAX_RETRY_AFTER_MS;
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms && DECIMAL.test(ms)) return Math.min(Number(ms), maxMs);
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (DECIMAL.test(value)) return Math.min(Number(value) * 1000, maxMs);
  if (!HTTP_DATE.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - (options.now ?? Date.now())), maxMs);
}
