/**
 * The scorer the extractor uses: the LLM while its circuit is closed (or on a half-open
 * trial), the offline lexicon when the circuit is open or the LLM call failed after its
 * retries. Either way every article gets scores, and each result names its scorer.
 */
import type { Logger } from '../../lib/logger.ts';
import type { CircuitBreaker } from './breaker.ts';
import { fallbacks } from './metrics.ts';
import type { ArticleText, ScoredArticle, SentimentScorer } from './scorer.ts';

export class ResilientScorer implements SentimentScorer {
  readonly name: string;

  constructor(
    private readonly llm: SentimentScorer,
    private readonly offline: SentimentScorer,
    private readonly breaker: CircuitBreaker,
    private readonly logger: Logger,
  ) {
    this.name = `${llm.name}|${offline.name}`;
  }

  async score(article: ArticleText, coins: readonly string[]): Promise<ScoredArticle> {
    if (!this.breaker.allow()) {
      fallbacks.inc({ why: 'circuit_open' });
      return this.offline.score(article, coins);
    }
    try {
      const scored = await this.llm.score(article, coins);
      this.breaker.success();
      return scored;
    } catch (error) {
      this.breaker.failure();
      fallbacks.inc({ why: 'llm_failed' });
      this.logger.warn(
        { err: (error as Error).message, circuit: this.breaker.state },
        'LLM scoring failed, using the offline scorer',
      );
      return this.offline.score(article, coins);
    }
  }
}
