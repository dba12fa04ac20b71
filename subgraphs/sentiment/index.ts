/** The sentiment subgraph: news articles, their scored signals, and per-market sentiment. */
import { TOPICS } from '../../schema/topics.ts';
import type { SubgraphDefinition } from '../server.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';

export const sentimentSubgraph: SubgraphDefinition = {
  name: 'sentiment',
  liveTopics: [TOPICS.sentimentSignals],
  resolvers,
  createLoaders,
};

export default sentimentSubgraph;
