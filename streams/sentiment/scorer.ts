/**
 * What every sentiment scorer returns: per coin a score in [-1, 1], a label, a confidence in
 * [0, 1] and a one-sentence reason, plus who scored it (`llm:<model>` or `lexicon:<version>`)
 * and, for an LLM, the prompt version. The offline lexicon and the LLM share this shape so
 * the extractor and everything downstream cannot tell them apart except by `scorer`.
 */
import type { SentimentLabel } from '../../schema/events.ts';

export interface ArticleText {
  readonly title: string;
  readonly text: string;
  /** sha256 of title and text (NewsItem.contentHash): the cache key's article part. */
  readonly contentHash: string;
}

export interface CoinScore {
  readonly coin: string;
  readonly score: number;
  readonly label: SentimentLabel;
  readonly confidence: number;
  readonly reason: string;
}

export interface ScoredArticle {
  readonly scores: readonly CoinScore[];
  readonly scorer: string;
  readonly promptVersion: string | null;
}

export interface SentimentScorer {
  /** e.g. "lexicon:v1", "llm:gpt-4o-mini". */
  readonly name: string;
  /** Scores `coins` (non-empty, already tagged) in the article. */
  score(article: ArticleText, coins: readonly string[]): Promise<ScoredArticle>;
  /** Releases what the scorer holds (checks, calls waiting for the LLM) when its processor stops. */
  close?(): void;
}

/** Above this magnitude a score is a view, below it neutral: shared by the lexicon and the LLM check. */
export const LABEL_THRESHOLD = 0.2;

export function labelOf(score: number): SentimentLabel {
  if (score >= LABEL_THRESHOLD) return 'BULLISH';
  if (score <= -LABEL_THRESHOLD) return 'BEARISH';
  return 'NEUTRAL';
}
