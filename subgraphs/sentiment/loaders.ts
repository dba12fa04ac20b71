/**
 * Per-request DataLoaders of the sentiment subgraph. Each batches every load of one tick
 * of the event loop (e.g. all representations of one `_entities` request) into one SQL
 * statement.
 */
import DataLoader from 'dataloader';
import type pg from 'pg';
import type { SubgraphContext } from '../context.ts';
import type { NewsArticle, SentimentSignal, SentimentSummary } from './generated/resolvers.ts';
import { articlesById, latestSummaries, signalsByArticle, summaryKeyId, type SummaryKey } from './store.ts';

export class SentimentLoaders {
  readonly summary: DataLoader<SummaryKey, SentimentSummary | null, string>;
  readonly article: DataLoader<string, NewsArticle | null>;
  readonly signals: DataLoader<string, SentimentSignal[]>;

  constructor(pool: pg.Pool) {
    this.summary = new DataLoader((keys) => latestSummaries(pool, keys), { cacheKeyFn: summaryKeyId });
    this.article = new DataLoader((ids) => articlesById(pool, ids));
    this.signals = new DataLoader((ids) => signalsByArticle(pool, ids));
  }
}

const KEY = 'sentiment';

export function createLoaders(pool: pg.Pool): Record<string, unknown> {
  return { [KEY]: new SentimentLoaders(pool) };
}

/** This request's loaders (see `createLoaders`). */
export function loaders(context: SubgraphContext): SentimentLoaders {
  const found = context.loaders[KEY];
  if (!(found instanceof SentimentLoaders)) throw new Error('sentiment loaders missing from the request context');
  return found;
}
