/** Resolvers of the sentiment subgraph (schema/graphql/sentiment.graphql). */
import { GraphQLError } from 'graphql';
import type { Resolvers } from './generated/resolvers.ts';
import { loaders } from './loaders.ts';
import { baseCoin, newestArticles, newestSignals } from './store.ts';

/** No list returns more than this many items, whatever `first` asks for. */
export const MAX_FIRST = 1000;

function limitOf(first: number | null | undefined, fallback: number): number {
  if (first === null || first === undefined) return fallback;
  if (first < 0) {
    throw new GraphQLError(`first must be zero or more, got ${first}`, { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return Math.min(first, MAX_FIRST);
}

export const resolvers: Resolvers = {
  Query: {
    newsArticles: (_parent, { coin, first }, context) => newestArticles(context.pool, coin ?? null, limitOf(first, 20)),
    sentimentSignals: (_parent, { coin, first }, context) => newestSignals(context.pool, coin, limitOf(first, 50)),
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
      const article = await loaders(context).article.load(signal.article.id);
      // sentiment_signals.article_id references news_articles: a missing article is a broken store.
      if (!article) throw new Error(`news article ${signal.article.id} of a sentiment signal not found`);
      return article;
    },
  },
};
