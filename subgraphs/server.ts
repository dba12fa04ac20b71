/**
 * Runs one subgraph: its SDL from schema/graphql, its resolvers, @apollo/subgraph's
 * schema, Apollo Server on a node:http server at /graphql, and graphql-ws subscriptions
 * on the same path fed by the bus (subgraphs/live.ts).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { GraphQLError, parse, type GraphQLFormattedError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type pg from 'pg';
import { headerMap, PayloadTooLarge, readBody, writeApolloResponse } from '../lib/apollo-http.ts';
import type { Logger } from '../lib/logger.ts';
import { counter, gauge, histogram } from '../lib/metrics.ts';
import { subgraphSdlPath, type SubgraphName } from '../schema/subgraphs.ts';
import type { Bus } from '../streams/bus/bus.ts';
import type { SubgraphContext } from './context.ts';
import { startLiveFeed, type LiveTopics } from './live.ts';

const GRAPHQL_PATH = '/graphql';
/** Subgraphs receive gateway-built operations only; the gateway enforces the client-facing limit. */
const MAX_BODY_BYTES = 1_000_000;

const requests = counter('tickcast_subgraph_requests_total', 'GraphQL operations served, by outcome', [
  'subgraph',
  'outcome',
]);
const requestSeconds = histogram('tickcast_subgraph_request_seconds', 'Time to serve one GraphQL operation', [
  'subgraph',
]);
const wsConnections = gauge(
  'tickcast_subgraph_ws_connections_active',
  'graphql-ws connections open on the subgraph (gateways multiplex their subscriptions over one each)',
  ['subgraph'],
);

export interface SubgraphDefinition {
  readonly name: SubgraphName;
  /** Bus topics its subscriptions follow (a live consumer per process; none: no consumer). */
  readonly liveTopics: LiveTopics;
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
  options: { pool: pg.Pool; bus: Bus; logger: Logger; port: number; host?: string },
): Promise<RunningSubgraph> {
  const logger = options.logger.child({ subgraph: definition.name });
  const schema = await buildSchema(definition);
  const live = await startLiveFeed({
    bus: options.bus,
    subgraph: definition.name,
    topics: definition.liveTopics,
    logger,
  });
  const contextFor = (scopesHeader: unknown): SubgraphContext => ({
    pool: options.pool,
    logger,
    live,
    loaders: definition.createLoaders(options.pool),
    scopes: String(scopesHeader ?? '')
      .split(',')
      .filter((s) => s.length > 0),
  });

  const httpServer = createServer();
  const server = new ApolloServer<SubgraphContext>({
    schema,
    logger,
    // The process's Lifecycle owns SIGTERM: Apollo's own handler would re-raise it and kill the process mid-shutdown.
    stopOnTerminationSignals: false,
    formatError: maskUnexpected(logger),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: 5_000 }),
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
  await server.start();

  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://subgraph');
    void (async () => {
      if (url.pathname !== GRAPHQL_PATH) {
        res.writeHead(404).end();
        return;
      }
      const text = req.method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : undefined;
      const response = await server.executeHTTPGraphQLRequest({
        httpGraphQLRequest: {
          method: req.method ?? 'GET',
          headers: headerMap(req),
          search: url.search,
          body: text ? JSON.parse(text) : undefined,
        },
        context: async () => contextFor(req.headers['x-tickcast-scopes']),
      });
      await writeApolloResponse(res, response);
    })().catch((error: unknown) => {
      const status = error instanceof PayloadTooLarge ? 413 : error instanceof SyntaxError ? 400 : 500;
      if (status === 500) logger.error({ err: error }, 'subgraph request failed');
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: status === 500 ? 'Internal error' : String(error) }] }));
    });
  });

  // Subscriptions over graphql-ws on the same path. Only the gateway connects here; it
  // passes the scopes it verified in connection_init, as it does in a header for HTTP.
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH });
  wsServer.on('connection', (socket) => {
    wsConnections.inc({ subgraph: definition.name });
    socket.once('close', () => wsConnections.dec({ subgraph: definition.name }));
  });
  const wsHandle = useServer<{ scopes?: string }>(
    {
      schema,
      context: (ctx) => contextFor(ctx.connectionParams?.scopes),
      onError: (_ctx, _id, _payload, errors) => {
        for (const error of errors) logger.warn({ err: error }, 'subscription failed');
      },
    },
    wsServer,
  );

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port, options.host ?? '0.0.0.0', () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = options.host && options.host !== '0.0.0.0' ? options.host : 'localhost';
  const url = `http://${host}:${port}${GRAPHQL_PATH}`;
  logger.info({ url }, 'subgraph listening');
  let stopping: Promise<void> | undefined;
  return {
    url,
    stop: () => {
      // Subscriptions end first (clients see `complete`), then HTTP drains, then the bus feed.
      stopping ??= (async () => {
        await wsHandle.dispose();
        await server.stop();
        await live.stop();
      })();
      return stopping;
    },
  };
}

/** Only deliberate errors (with extensions.code) reach the gateway; the rest are logged and masked. */
function maskUnexpected(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (formatted.extensions?.['code'] && formatted.extensions['code'] !== 'INTERNAL_SERVER_ERROR') return formatted;
    logger.error({ err: original }, 'resolver failed');
    return { message: 'Internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}
