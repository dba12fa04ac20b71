/** The markets subgraph: markets, their trades, candles and 24-hour ticker. */
import { TOPICS } from '../../schema/topics.ts';
import type { SubgraphDefinition } from '../server.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';

export interface MarketsOptions {
  /** The configured markets (PAIRS), listed first by Query.markets and known even before any candle. */
  readonly pairs: readonly string[];
}

export function marketsSubgraph(options: MarketsOptions): SubgraphDefinition {
  const pairs = [...new Set(options.pairs)];
  return {
    name: 'markets',
    liveTopics: [TOPICS.marketEvents, TOPICS.candles, TOPICS.candlesLive],
    resolvers,
    createLoaders: (pool) => createLoaders(pool, pairs),
  };
}
