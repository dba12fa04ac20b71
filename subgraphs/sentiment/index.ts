/** The sentiment subgraph: news articles, their scored signals, and per-market sentiment. */
import type { SubgraphDefinition } from '../server.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';

export const sentimentSubgraph: SubgraphDefinition = {
  name: 'sentiment',
  liveTopics: [],
  resolvers,
  createLoaders,
};

export default sentimentSubgraph;
