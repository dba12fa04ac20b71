/** The five subgraphs, their SDL files and the composed supergraph. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUBGRAPHS = ['markets', 'features', 'sentiment', 'models', 'predictions'] as const;
export type SubgraphName = (typeof SUBGRAPHS)[number];

const here = dirname(fileURLToPath(import.meta.url));

export const subgraphSdlPath = (name: SubgraphName): string => join(here, 'graphql', `${name}.graphql`);
export const SUPERGRAPH_PATH = join(here, 'supergraph.graphql');
export const API_SCHEMA_PATH = join(here, 'supergraph-api.graphql');

/** Where each subgraph listens by default (`tickcast subgraph <name>`), and so where the gateway looks. */
export const DEFAULT_SUBGRAPH_PORTS: Record<SubgraphName, number> = {
  markets: 4001,
  features: 4002,
  sentiment: 4003,
  models: 4004,
  predictions: 4005,
};

export const defaultSubgraphUrl = (name: SubgraphName): string =>
  `http://127.0.0.1:${DEFAULT_SUBGRAPH_PORTS[name]}/graphql`;
