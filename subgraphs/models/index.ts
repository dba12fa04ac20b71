/** The models subgraph: registered models, their versions, aliases and holdout metrics, from the model registry. */
import { rootLogger, type Logger } from '../../lib/logger.ts';
import type { ModelRegistry } from '../../registry/registry.ts';
import type { SubgraphDefinition } from '../server.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';

export { CHAMPION, METRIC_KEYS } from './resolvers.ts';

/**
 * The registry is the only source: the pool that server.ts hands to `createLoaders` is not
 * used. `logger` receives registry outages (default: the process logger).
 */
export function modelsSubgraph(
  registry: ModelRegistry,
  options: { readonly logger?: Logger } = {},
): SubgraphDefinition {
  const logger = options.logger ?? rootLogger.child({ subgraph: 'models' });
  return {
    name: 'models',
    liveTopics: [],
    resolvers,
    createLoaders: () => createLoaders(registry, logger),
  };
}
