/**
 * The scorer the extractor uses with an LLM configured. What happens to an article depends
 * on why the LLM could not score it:
 *
 * - The LLM answered, but its answer was unusable after the retries (malformed, off-schema,
 *   refused, a 4xx): the article is scored by the offline lexicon, and every signal names
 *   that scorer (`lexicon:v1`, no prompt version), so a fallback score is never taken for an
 *   LLM one. Another try would fail the same way.
 * - The LLM is unavailable (connection refused, timeouts, 5xx, 429 after honouring its
 *   Retry-After): the article is held, not scored. Its batch waits inside the extractor,
 *   its input offset uncommitted (the news waits in Kafka), and the call is tried again
 *   when the circuit lets a trial through, so after recovery the stored signals are the
 *   ones an uninterrupted run stores. While the circuit is open, `llm` is down in the
 *   dependency registry (/ready 503 naming it, `tickcast_dependency_up{dependency="llm"}`
 *   0, one log line down and one up). Down longer than `maxOutageMs` (LLM_MAX_OUTAGE_MS),
 *   the registry fails the process so its supervisor restarts it, and a held call gives up
 *   with a retriable UPSTREAM_UNAVAILABLE: its batch is retried, never committed unscored.
 */
import { TickcastError } from '../../lib/errors.ts';
import type { DependencyHealth } from '../../lib/dependencies.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { CircuitBreaker } from './breaker.ts';
import { classify } from './llm.ts';
import { fallbacks } from './metrics.ts';
import type { ArticleText, ScoredArticle, SentimentScorer } from './scorer.ts';

const held = counter(
  'tickcast_sentiment_articles_held_total',
  'Articles whose scoring waited for the LLM to come back (circuit open or the endpoint unavailable)',
);

/** Longest and shortest sleep between looks at the circuit while an article is held (a trial may end early). */
const HOLD_POLL_MS = 1_000;
const MIN_HOLD_POLL_MS = 250;

export interface ResilientOptions {
  /** Unavailable longer than this: the process fails, held calls give up (LLM_MAX_OUTAGE_MS). */
  readonly maxOutageMs: number;
  /** Where the LLM's availability is reported, checked every `checkIntervalMs` against `maxOutageMs`. */
  readonly health?: DependencyHealth;
  readonly checkIntervalMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export class ResilientScorer implements SentimentScorer {
  readonly name: string;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private lastOutage = 'the LLM is unavailable';
  private closed = false;
  private readonly unwatch: (() => void) | undefined;

  constructor(
    private readonly llm: SentimentScorer,
    private readonly offline: SentimentScorer,
    private readonly breaker: CircuitBreaker,
    private readonly logger: Logger,
    private readonly options: ResilientOptions,
  ) {
    this.name = `${llm.name}|${offline.name}`;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    // The registry's check reads the circuit: it is what fails the process beyond the bound.
    this.unwatch = options.health?.watch(
      'llm',
      async () => {
        if (this.breaker.state !== 'closed') throw new Error(this.lastOutage);
      },
      { intervalMs: options.checkIntervalMs ?? 2_000, maxOutageMs: options.maxOutageMs },
    );
  }

  async score(article: ArticleText, coins: readonly string[]): Promise<ScoredArticle> {
    const since = this.now();
    let counted = false;
    for (;;) {
      if (this.closed) throw new TickcastError('UPSTREAM_UNAVAILABLE', 'the extractor is stopping: article not scored');
      if (!this.breaker.allow()) {
        if (this.now() - since > this.options.maxOutageMs) {
          throw new TickcastError(
            'UPSTREAM_UNAVAILABLE',
            `the LLM has been unavailable for over ${this.options.maxOutageMs} ms (${this.lastOutage}): article not scored`,
          );
        }
        if (!counted) held.inc();
        counted = true;
        await this.sleep(Math.min(HOLD_POLL_MS, Math.max(MIN_HOLD_POLL_MS, this.breaker.msUntilTrial())));
        continue;
      }
      try {
        const scored = await this.llm.score(article, coins);
        this.breaker.success();
        this.options.health?.report('llm', true);
        return scored;
      } catch (error) {
        const failure = classify(error);
        if (!failure.outage) {
          fallbacks.inc({ why: 'llm_failed' });
          this.logger.warn(
            { err: failure.message, reason: failure.reason },
            'LLM answer unusable, scoring this article with the offline scorer',
          );
          return this.offline.score(article, coins);
        }
        this.lastOutage = `${failure.reason}: ${failure.message}`;
        this.breaker.failure();
        if (this.breaker.state !== 'closed') this.options.health?.report('llm', false, this.lastOutage);
        if (!counted) held.inc();
        counted = true;
      }
    }
  }

  /** Stops the check and releases held calls (they fail retriable, their batch uncommitted): a stop need not wait for the LLM. */
  close(): void {
    this.closed = true;
    this.unwatch?.();
  }
}
