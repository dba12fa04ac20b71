/** The features subgraph: a market's technical indicators from the feature store. */
import { TOPICS } from '../../schema/topics.ts';
import type { SubgraphDefinition } from '../server.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';

export function featuresSubgraph(): SubgraphDefinition {
  return { name: 'features', liveTopics: [TOPICS.indicators], resolvers, createLoaders };
}
