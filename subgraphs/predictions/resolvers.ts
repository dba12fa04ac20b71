/** Resolvers of the predictions subgraph (schema/graphql/predictions.graphql). */
import type { ModelAlert as BusModelAlert, Prediction as BusPrediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { checkCount, toDateTime } from '../inputs.ts';
import type { ModelAlert, Prediction, Resolvers } from './generated/resolvers.ts';
import { loaders } from './loaders.ts';
import { marketReference, modelPerformance } from './store.ts';

/** A prediction as the predictor published it: not yet stored, so no outcome yet. */
const predictionFromEvent = (event: BusPrediction): Prediction => ({
  id: event.id,
  pair: event.pair,
  market: marketReference(event.pair),
  horizonMinutes: event.horizonMinutes,
  madeAt: toDateTime(event.madeAt),
  targetTime: toDateTime(event.targetTime),
  predictedPrice: event.predictedPrice,
  lowerBound: event.lowerBound,
  upperBound: event.upperBound,
  modelVersion: { modelName: event.modelName, version: event.modelVersion },
  actualPrice: null,
  error: null,
});

const alertFromEvent = (event: BusModelAlert): ModelAlert => ({
  modelVersion: { modelName: event.modelName, version: event.modelVersion },
  pair: event.pair,
  market: marketReference(event.pair),
  horizonMinutes: event.horizonMinutes,
  rollingMae: event.rollingMae,
  trainingMae: event.trainingMae,
  factor: event.factor,
  recommendation: event.recommendation,
  raisedAt: toDateTime(event.at),
});

export const resolvers: Resolvers = {
  Subscription: {
    predictionCreated: {
      subscribe: (_parent, { pair, horizonMinutes }, context) =>
        context.live.subscribe(
          [TOPICS.predictions],
          (event) =>
            (pair === null || pair === undefined || event.pair === pair) &&
            (horizonMinutes === null || horizonMinutes === undefined || event.horizonMinutes === horizonMinutes),
        ),
      resolve: predictionFromEvent,
    },
    modelAlert: {
      subscribe: (_parent, { modelName }, context) =>
        context.live.subscribe(
          [TOPICS.modelAlerts],
          (event) => modelName === null || modelName === undefined || event.modelName === modelName,
        ),
      resolve: alertFromEvent,
    },
  },
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
