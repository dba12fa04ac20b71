/**
 * Polite HTTP for pollers: conditional requests (the validators of the last answer go back
 * as If-None-Match / If-Modified-Since, so an unchanged feed costs a 304 and no body), a
 * timeout, and errors classified for the poller: 429 and 5xx are retriable and carry the
 * server's Retry-After, other statuses are refusals.
 */
import { TickcastError } from '../../lib/errors.ts';
import { retryAfterMs } from '../../lib/retry-after.ts';

export interface Validators {
  etag?: string | undefined;
  lastModified?: string | undefined;
}

export type ConditionalResponse =
  | { readonly status: 'not-modified' }
  | { readonly status: 'ok'; readonly body: string; readonly validators: Validators };

/** A retriable HTTP failure with the delay the server asked for, if it said. */
export class HttpRetryError extends TickcastError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    rateLimited: boolean,
  ) {
    super(rateLimited ? 'RATE_LIMITED' : 'UPSTREAM_UNAVAILABLE', message);
  }
}

export async function conditionalGet(
  url: string,
  validators: Validators,
  options: { timeoutMs: number; accept: string; userAgent?: string },
): Promise<ConditionalResponse> {
  const headers: Record<string, string> = {
    accept: options.accept,
    'user-agent': options.userAgent ?? 'tickcast-news/1 (+https://github.com/tickcast)',
  };
  if (validators.etag) headers['if-none-match'] = validators.etag;
  if (validators.lastModified) headers['if-modified-since'] = validators.lastModified;
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (cause) {
    throw new HttpRetryError(`GET ${redact(url)} failed: ${(cause as Error).message}`, undefined, false);
  }
  if (response.status === 304) return { status: 'not-modified' };
  if (response.status === 429 || response.status >= 500) {
    await response.body?.cancel();
    throw new HttpRetryError(
      `GET ${redact(url)} answered ${response.status}`,
      retryAfterMs(response.headers),
      response.status === 429,
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new TickcastError('UPSTREAM_REJECTED', `GET ${redact(url)} answered ${response.status}`);
  }
  return {
    status: 'ok',
    body: await response.text(),
    validators: {
      etag: response.headers.get('etag') ?? undefined,
      lastModified: response.headers.get('last-modified') ?? undefined,
    },
  };
}

/** The URL without secrets in its query (auth_token), for logs and errors. */
export function redact(url: string): string {
  return url.replace(/(auth_token|api_key|key|token)=[^&]*/gi, '$1=***');
}
