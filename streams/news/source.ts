/**
 * The contract every news source (news API, RSS/Atom feeds, replay of a headline dataset)
 * implements, shaped like the trade sources' (streams/sources/source.ts): batches pushed
 * into an awaited sink, so the bus slows a source down instead of memory growing.
 */
import type { NewsItem } from '../../schema/events.ts';

export interface NewsSink {
  (items: NewsItem[]): Promise<void>;
}

export interface NewsSource {
  /** For logs and the `tickcast_news_items_total{source}` metric, e.g. "cryptopanic". */
  readonly name: string;
  /** Resolves when the source is exhausted (a replay) or `signal` aborts; rejects only on an unrecoverable error. */
  start(sink: NewsSink, signal: AbortSignal): Promise<void>;
}
