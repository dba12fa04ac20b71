/**
 * Runs one subgraph: its SDL from schema/graphql, its resolvers, @apollo/subgraph's
 * schema, an Apollo Server on `port`, and the ops endpoint (/metrics, /health, /ready).
 */
import { readFile } from 'node:fs/promises';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { GraphQLError, parse } from 'graphql';
import type pg from 'pg';
import type { Logger } from '../lib/logger.ts';
import { counter, histogram } from '../lib/metrics.ts';
import { subgraphSdlPath, type SubgraphName } from '../schema/subgraphs.ts';
import type { SubgraphContext } from './context.ts';

const requests = counter('tickcast_subgraph_requests_total', 'GraphQL operations served, by outcome', [
  'subgraph',
  'outcome',
]);
const requestSeconds = histogram('tickcast_subgraph_request_seconds', 'Time to serve one GraphQL operation', [
  'subgraph',
]);

export interface SubgraphDefinition {
  readonly name: SubgraphName;
  readonly resolvers: GraphQLResolverMap<SubgraphContext>;
  /** DataLoaders for one request. */
  createLoaders(pool: pg.Pool): Record<string, unknown>;
}

export interface RunningSubgraph {
  readonly url: string;
  stop(): Promise<void>;
}

export async function buildSchema(definition: SubgraphDefinition) {
  const typeDefs = parse(await readFile(subgraphSdlPath(definition.name), 'utf8'));
  return buildSubgraphSchema([{ typeDefs, resolvers: definition.resolvers }]);
}

export async function startSubgraph(
  definition: SubgraphDefinition,
  options: { pool: pg.Pool; logger: Logger; port: number; host?: string },
): Promise<RunningSubgraph> {
  const logger = options.logger.child({ subgraph: definition.name });
  const server = new ApolloServer<SubgraphContext>({
    schema: await buildSchema(definition),
    logger,
    // The process's Lifecycle owns SIGTERM: Apollo's own handler would re-raise it and kill the process mid-shutdown.
    stopOnTerminationSignals: false,
    // Only deliberate errors (with extensions.code) reach the gateway; the rest are logged and masked.
    formatError: (formatted, error) => {
      const original = error instanceof GraphQLError ? error.originalError : error;
      if (formatted.extensions?.['code'] && formatted.extensions['code'] !== 'INTERNAL_SERVER_ERROR') return formatted;
      logger.error({ err: original }, 'resolver failed');
      return { message: 'Internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    },
    plugins: [
      {
        async requestDidStart() {
          const stop = requestSeconds.startTimer({ subgraph: definition.name });
          return {
            async willSendResponse({ errors }) {
              stop();
              requests.inc({ subgraph: definition.name, outcome: errors?.length ? 'error' : 'ok' });
            },
          };
        },
      },
    ],
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: options.port, host: options.host ?? '0.0.0.0' },
    context: async ({ req }) => ({
      pool: options.pool,
      logger,
      loaders: definition.createLoaders(options.pool),
      scopes: String(req.headers['x-tickcast-scopes'] ?? '')
        .split(',')
        .filter((s) => s.length > 0),
    }),
  });
  logger.info({ url }, 'subgraph listening');
  return { url, stop: () => server.stop() };
}
