/**
 * Per-request DataLoaders of the features subgraph. Each batches every load of one tick of the
 * event loop (e.g. `latestFeatures` of all representations of one `_entities` request) into
 * one SQL statement (store.ts), and caches within the request only.
 */
import DataLoader from 'dataloader';
import type pg from 'pg';
import type { SubgraphContext } from '../context.ts';
import { indicatorSets, latestSets, type IndicatorRow, type IndicatorsKey, type LatestKey } from './store.ts';

export class FeaturesLoaders {
  readonly latest: DataLoader<LatestKey, IndicatorRow | null, string>;
  readonly indicators: DataLoader<IndicatorsKey, IndicatorRow[], string>;

  constructor(pool: pg.Pool) {
    this.latest = new DataLoader((keys) => latestSets(pool, keys), {
      cacheKeyFn: (k) => JSON.stringify([k.pair, k.interval]),
    });
    this.indicators = new DataLoader((keys) => indicatorSets(pool, keys), {
      cacheKeyFn: (k) => JSON.stringify([k.pair, k.interval, k.from, k.to, k.last]),
    });
  }
}

const KEY = 'features';

export function createLoaders(pool: pg.Pool): Record<string, unknown> {
  return { [KEY]: new FeaturesLoaders(pool) };
}

/** This request's loaders (see `createLoaders`). */
export function loaders(context: SubgraphContext): FeaturesLoaders {
  const found = context.loaders[KEY];
  if (!(found instanceof FeaturesLoaders)) throw new Error('features loaders missing from the request context');
  return found;
}
