/** Resolvers of the predictions subgraph (schema/graphql/predictions.graphql). */
import { checkCount } from '../inputs.ts';
import type { Resolvers } from './generated/resolvers.ts';
import { loaders } from './loaders.ts';
import { modelPerformance } from './store.ts';

export const resolvers: Resolvers = {
  Query: {
    prediction: (_parent, { id }, context) => loaders(context).byId.load(id),
    modelPerformance: (_parent, args, context) =>
      modelPerformance(context.pool, {
        modelName: args.modelName ?? null,
        pair: args.pair ?? null,
        horizonMinutes: args.horizonMinutes ?? null,
      }),
  },
  Market: {
    predictions: (market, { horizonMinutes, first }, context) =>
      loaders(context).byMarket.load({
        pair: market.pair,
        horizonMinutes: horizonMinutes ?? null,
        limit: checkCount('first', first, 50),
      }),
    latestPrediction: (market, { horizonMinutes }, context) =>
      loaders(context).latest.load({ pair: market.pair, horizonMinutes }),
  },
  Prediction: {
    __resolveReference: (reference, context) => loaders(context).byId.load(reference.id),
  },
};
