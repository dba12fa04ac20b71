/**
 * A news source that polls: every `intervalMs` it asks `fetchOnce` for the current items,
 * drops those already delivered (by URL and content hash), and hands the rest to the sink
 * oldest first. A retriable failure backs off exponentially (or as long as the server's
 * Retry-After asks); a refusal (bad key, 404) stops the source, since retrying cannot fix it.
 */
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { NewsItem } from '../../schema/events.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../lib/backoff.ts';
import { SeenArticles } from './dedupe.ts';
import { HttpRetryError } from './http.ts';
import { newsItems, newsPolls } from './metrics.ts';
import type { NewsSink, NewsSource } from './source.ts';

export interface PollerOptions {
  readonly name: string;
  readonly intervalMs: number;
  readonly backoff: BackoffPolicy;
  readonly logger: Logger;
  /** The items currently listed; an empty list when nothing changed (e.g. HTTP 304). */
  fetchOnce(): Promise<NewsItem[]>;
}

export const DEFAULT_NEWS_BACKOFF: BackoffPolicy = {
  initialDelayMs: 5_000,
  maxDelayMs: 15 * 60_000,
  multiplier: 2,
  jitter: 0.3,
};

export class PollingNewsSource implements NewsSource {
  readonly name: string;
  private readonly seen = new SeenArticles();

  constructor(private readonly options: PollerOptions) {
    this.name = options.name;
  }

  async start(sink: NewsSink, signal: AbortSignal): Promise<void> {
    const { logger, intervalMs, backoff } = this.options;
    let failures = 0;
    while (!signal.aborted) {
      let wait = intervalMs;
      try {
        const fresh = (await this.options.fetchOnce())
          .filter((item) => this.seen.firstSighting(item))
          .sort((a, b) => a.publishedAt - b.publishedAt);
        newsPolls.inc({ source: this.name, outcome: 'ok' });
        if (fresh.length > 0) {
          await sink(fresh);
          newsItems.inc({ source: this.name }, fresh.length);
        }
        failures = 0;
      } catch (error) {
        if (!(error instanceof TickcastError) || !error.retriable) {
          newsPolls.inc({ source: this.name, outcome: 'refused' });
          throw error;
        }
        newsPolls.inc({ source: this.name, outcome: 'retry' });
        const serverAsked = error instanceof HttpRetryError ? error.retryAfterMs : undefined;
        wait = Math.max(serverAsked ?? 0, backoffDelay(failures, backoff));
        failures += 1;
        logger.warn({ source: this.name, failures, waitMs: wait, err: error.message }, 'news poll failed, backing off');
      }
      await sleep(wait, signal);
    }
  }
}
