/**
 * The five subgraphs by name, built from configuration: what `tickcast subgraph <name>`
 * runs, and what `tickcast start` runs all of. Each subgraph is its own server.
 */
import type { Config } from '../lib/config.ts';
import { openRegistry } from '../registry/index.ts';
import type { SubgraphName } from '../schema/subgraphs.ts';
import { featuresSubgraph } from './features/index.ts';
import { marketsSubgraph } from './markets/index.ts';
import { modelsSubgraph } from './models/index.ts';
import { predictionsSubgraph } from './predictions/index.ts';
import type { SubgraphDefinition } from './server.ts';
import { sentimentSubgraph } from './sentiment/index.ts';

export function subgraphDefinition(name: SubgraphName, config: Config): SubgraphDefinition {
  switch (name) {
    case 'markets':
      return marketsSubgraph({ pairs: config.PAIRS });
    case 'features':
      return featuresSubgraph();
    case 'sentiment':
      return sentimentSubgraph;
    case 'models':
      return modelsSubgraph(
        openRegistry({ mlflowTrackingUri: config.MLFLOW_TRACKING_URI, dataDir: config.TICKCAST_DATA_DIR }),
      );
    case 'predictions':
      return predictionsSubgraph;
  }
}
