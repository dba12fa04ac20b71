/**
 * Per-request DataLoaders of the predictions subgraph. Each batches every load of one
 * tick of the event loop (e.g. all representations of one `_entities` request) into one
 * SQL statement.
 */
import DataLoader from 'dataloader';
import type pg from 'pg';
import type { SubgraphContext } from '../context.ts';
import type { Prediction } from './generated/resolvers.ts';
import {
  latestKeyId,
  latestPredictions,
  marketPredictions,
  marketPredictionsKeyId,
  predictionsById,
  type LatestKey,
  type MarketPredictionsKey,
} from './store.ts';

export class PredictionLoaders {
  readonly byId: DataLoader<string, Prediction | null>;
  readonly latest: DataLoader<LatestKey, Prediction | null, string>;
  readonly byMarket: DataLoader<MarketPredictionsKey, Prediction[], string>;

  constructor(pool: pg.Pool) {
    this.byId = new DataLoader((ids) => predictionsById(pool, ids));
    this.latest = new DataLoader((keys) => latestPredictions(pool, keys), {
      cacheKeyFn: (k) => latestKeyId(k.pair, k.horizonMinutes),
    });
    this.byMarket = new DataLoader((keys) => marketPredictions(pool, keys), { cacheKeyFn: marketPredictionsKeyId });
  }
}

const KEY = 'predictions';

export function createLoaders(pool: pg.Pool): Record<string, unknown> {
  return { [KEY]: new PredictionLoaders(pool) };
}

/** This request's loaders (see `createLoaders`). */
export function loaders(context: SubgraphContext): PredictionLoaders {
  const found = context.loaders[KEY];
  if (!(found instanceof PredictionLoaders)) throw new Error('predictions loaders missing from the request context');
  return found;
}
