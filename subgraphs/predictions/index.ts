/** The predictions subgraph: predictions per market and the models' rolling error. */
import { TOPICS } from '../../schema/topics.ts';
import type { SubgraphDefinition } from '../server.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';

export const predictionsSubgraph: SubgraphDefinition = {
  name: 'predictions',
  liveTopics: [TOPICS.predictions, TOPICS.modelAlerts],
  resolvers,
  createLoaders,
};

export default predictionsSubgraph;
