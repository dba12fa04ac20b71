/** Resolvers of the sentiment subgraph (schema/graphql/sentiment.graphql). */
import type { SentimentSignal as BusSentimentSignal } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { checkCount, toDateTime } from '../inputs.ts';
import type { Resolvers, SentimentSignal } from './generated/resolvers.ts';
import { loaders } from './loaders.ts';
import { baseCoin, isLiveArticle, liveArticle, newestArticles, newestSignals } from './store.ts';

/** A signal as the extractor published it; its article travels with it (it may not be stored yet). */
const signalFromEvent = (event: BusSentimentSignal): SentimentSignal => ({
  coin: event.coin,
  score: event.score,
  label: event.label,
  confidence: event.confidence,
  reason: event.reason,
  scorer: event.scorer,
  promptVersion: event.promptVersion,
  createdAt: toDateTime(event.createdAt),
  article: liveArticle({
    id: event.articleId,
    title: event.title,
    url: event.url,
    source: event.source,
    publishedAt: toDateTime(event.publishedAt),
    replayed: event.feed === 'replay',
  }),
});

export const resolvers: Resolvers = {
  Subscription: {
    sentimentSignal: {
      subscribe: (_parent, { coin }, context) => {
        const wanted = coin?.trim().toUpperCase() ?? null;
        return context.live.subscribe([TOPICS.sentimentSignals], (event) => wanted === null || event.coin === wanted);
      },
      resolve: signalFromEvent,
    },
  },
  Query: {
    newsArticles: (_parent, { coin, first }, context) =>
      newestArticles(context.pool, coin ?? null, checkCount('first', first, 20)),
    sentimentSignals: (_parent, { coin, first }, context) =>
      newestSignals(context.pool, coin, checkCount('first', first, 50)),
  },
  Market: {
    sentiment: (market, { window }, context) => {
      const coin = baseCoin(market.pair);
      return coin === null ? null : loaders(context).summary.load({ coin, window });
    },
  },
  NewsArticle: {
    __resolveReference: (reference, context) => loaders(context).article.load(reference.id),
    signals: (article, _args, context) => loaders(context).signals.load(article.id),
  },
  SentimentSignal: {
    article: async (signal, _args, context) => {
      if (isLiveArticle(signal.article)) return signal.article;
      const article = await loaders(context).article.load(signal.article.id);
      // sentiment_signals.article_id references news_articles: a missing article is a broken store.
      if (!article) throw new Error(`news article ${signal.article.id} of a sentiment signal not found`);
      return article;
    },
  },
};
