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

export const DEFAULT_SUBGRAPH_PORTS: Record<SubgraphName, number> = {
  markets: 4001,
  features: 4002,
  sentiment: 4003,
  models: 4004,
  predictions: 4005,
};

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

/** The URL the gateway uses for a subgraph: its configured URL, else the default local port. */
export function subgraphUrl(name: SubgraphName, config: Config): string {
  const configured = {
    markets: config.SUBGRAPH_MARKETS_URL,
    features: config.SUBGRAPH_FEATURES_URL,
    sentiment: config.SUBGRAPH_SENTIMENT_URL,
    models: config.SUBGRAPH_MODELS_URL,
    predictions: config.SUBGRAPH_PREDICTIONS_URL,
  }[name];
  return configured ?? `http://127.0.0.1:${DEFAULT_SUBGRAPH_PORTS[name]}/graphql`;
}
