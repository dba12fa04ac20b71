/** Resolvers of the sentiment subgraph (schema/graphql/sentiment.graphql). */
import { checkCount } from '../inputs.ts';
import type { Resolvers } from './generated/resolvers.ts';
import { loaders } from './loaders.ts';
import { baseCoin, newestArticles, newestSignals } from './store.ts';

export const resolvers: Resolvers = {
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
      const article = await loaders(context).article.load(signal.article.id);
      // sentiment_signals.article_id references news_articles: a missing article is a broken store.
      if (!article) throw new Error(`news article ${signal.article.id} of a sentiment signal not found`);
      return article;
    },
  },
};
