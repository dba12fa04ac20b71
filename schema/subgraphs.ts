/** The five subgraphs, their SDL files and the composed supergraph. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUBGRAPHS = ['markets', 'features', 'sentiment', 'models', 'predictions'] as const;
export type SubgraphName = (typeof SUBGRAPHS)[number];

const here = dirname(fileURLToPath(import.meta.url));

export const subgraphSdlPath = (name: SubgraphName): string => join(here, 'graphql', `${name}.graphql`);
export const SUPERGRAPH_PATH = join(here, 'supergraph.graphql');
export const API_SCHEMA_PATH = join(here, 'supergraph-api.graphql');
