/** Resolvers of the predictions subgraph (schema/graphql/predictions.graphql). */
import { GraphQLError } from 'graphql';
import type { Resolvers } from './generated/resolvers.ts';
import { loaders } from './loaders.ts';
import { modelPerformance } from './store.ts';

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
        limit: limitOf(first, 50),
      }),
    latestPrediction: (market, { horizonMinutes }, context) =>
      loaders(context).latest.load({ pair: market.pair, horizonMinutes }),
  },
  Prediction: {
    __resolveReference: (reference, context) => loaders(context).byId.load(reference.id),
  },
};
