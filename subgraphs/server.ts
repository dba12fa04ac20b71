/**
 * Runs one subgraph: its SDL from schema/graphql, its resolvers, @apollo/subgraph's
 * schema, Apollo Server on a node:http server at /graphql, and graphql-ws subscriptions
 * on the same path fed by the bus (subgraphs/live.ts).
 *
 * Trust: the caller's scopes come only from what the gateway signed (lib/internal-signature.ts),
 * in headers over HTTP and in connection_init over graphql-ws. Anything unsigned, stale,
 * forged or replayed is served with public scope (no scopes), counted and logged at most
 * once a minute.
 * Errors reach callers masked: no stack traces, no internal messages, no schema suggestions.
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
import { isStoreUnavailable } from '../lib/errors.ts';
import { headerMap, PayloadTooLarge, readBody, writeApolloResponse } from '../lib/apollo-http.ts';
import {
  ReplayGuard,
  verifyConnectionParams,
  verifyHttpRequest,
  type Claims,
  type Rejection,
  type Verification,
} from '../lib/internal-signature.ts';
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
const ignoredClaims = counter(
  'tickcast_subgraph_unsigned_requests_total',
  'Requests (http) and graphql-ws connections (ws) whose caller claims were not signed by the gateway, ' +
    'or stale, forged or replayed: served with public scope',
  ['subgraph', 'transport', 'reason'],
);
/** A flood of unsigned requests must not become a flood of log lines: one summary per interval. */
const IGNORED_CLAIMS_LOG_INTERVAL_MS = 60_000;
/** graphql-js appends these to validation messages; they map the schema for a caller without introspection. */
const SUGGESTION = / ?Did you mean(.+?)\?$/;
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

export interface SubgraphOptions {
  readonly pool: pg.Pool;
  readonly bus: Bus;
  readonly logger: Logger;
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1: only the gateway calls a subgraph. */
  readonly host?: string;
  /**
   * Secrets a gateway's signature may use (TICKCAST_INTERNAL_SECRET: current, then previous).
   * None: every caller gets public scope (a standalone subgraph without a secret).
   */
  readonly internalSecrets?: readonly string[];
}

class MalformedJson extends Error {}

export async function startSubgraph(
  definition: SubgraphDefinition,
  options: SubgraphOptions,
): Promise<RunningSubgraph> {
  const logger = options.logger.child({ subgraph: definition.name });
  const secrets = options.internalSecrets ?? [];
  if (secrets.length === 0) {
    logger.warn('no TICKCAST_INTERNAL_SECRET: caller scopes are not verifiable, every caller gets public scope');
  }
  const ignored = ignoredClaimsReporter(definition.name, logger);
  const replays = new ReplayGuard();
  /** The signed claims, or undefined (public scope) when they do not verify. */
  const trusted = (verification: Verification, transport: 'http' | 'ws'): Claims | undefined => {
    // Without a secret nothing can verify: the start-up warning said so, no need to count each request.
    if (verification.ok || secrets.length === 0) return verification.ok ? verification.claims : undefined;
    ignored(transport, verification.reason);
    return undefined;
  };
  const schema = await buildSchema(definition);
  const live = await startLiveFeed({
    bus: options.bus,
    subgraph: definition.name,
    topics: definition.liveTopics,
    logger,
  });
  const contextFor = (claims: Claims | undefined): SubgraphContext => ({
    pool: options.pool,
    logger: claims?.requestId ? logger.child({ requestId: claims.requestId, principal: claims.principal }) : logger,
    live,
    loaders: definition.createLoaders(options.pool),
    scopes: claims?.scopes ?? [],
  });
  const formatError = maskUnexpected(logger);

  const httpServer = createServer();
  const server = new ApolloServer<SubgraphContext>({
    schema,
    logger,
    // The process's Lifecycle owns SIGTERM: Apollo's own handler would re-raise it and kill the process mid-shutdown.
    stopOnTerminationSignals: false,
    // Only the gateway calls a subgraph, and it reads the SDL through `_service`, not introspection.
    introspection: false,
    hideSchemaDetailsFromClientErrors: true,
    includeStacktraceInErrorResponses: false,
    formatError,
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
      const method = req.method ?? 'GET';
      const text = method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : undefined;
      const claims = trusted(
        verifyHttpRequest(
          secrets,
          { method, path: req.url ?? '/', body: text ?? '' },
          (name) => {
            const value = req.headers[name];
            return Array.isArray(value) ? value.join(', ') : value;
          },
          { replays },
        ),
        'http',
      );
      const response = await server.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method, headers: headerMap(req), search: url.search, body: parseJson(text) },
        context: async () => contextFor(claims),
      });
      await writeApolloResponse(res, response);
    })().catch((error: unknown) => {
      // Fixed messages: a parser's or runtime's own words describe our internals, not the caller's mistake.
      const [status, message] =
        error instanceof PayloadTooLarge
          ? [413, 'Request body too large']
          : error instanceof MalformedJson
            ? [400, 'Request body is not valid JSON']
            : [500, 'Internal error'];
      if (status === 500) logger.error({ err: error }, 'subgraph request failed');
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message }] }));
    });
  });

  // Subscriptions over graphql-ws on the same path. Only the gateway connects here; it signs
  // the caller claims in connection_init, as it does in headers for HTTP. They are verified
  // once per connection (the timestamp is the connection's) and held for its lifetime.
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH });
  wsServer.on('connection', (socket) => {
    wsConnections.inc({ subgraph: definition.name });
    socket.once('close', () => wsConnections.dec({ subgraph: definition.name }));
  });
  const connectionClaims = new WeakMap<object, Claims>();
  const wsHandle = useServer<Record<string, unknown>>(
    {
      schema,
      onConnect: (ctx) => {
        const claims = trusted(verifyConnectionParams(secrets, ctx.connectionParams, { replays }), 'ws');
        if (claims) connectionClaims.set(ctx, claims);
      },
      context: (ctx) => contextFor(connectionClaims.get(ctx)),
      // graphql-ws does not go through Apollo's formatError: the same masking, applied here.
      onNext: (_ctx, _id, _payload, _args, { data, errors }) =>
        errors
          ? { ...(data === undefined ? {} : { data }), errors: errors.map((e) => formatError(e.toJSON(), e)) }
          : undefined,
      onError: (_ctx, _id, _payload, errors) => {
        for (const error of errors) logger.warn({ err: error }, 'subscription failed');
        return errors.map((e) => formatError(e.toJSON(), e));
      },
    },
    wsServer,
  );

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port, options.host ?? '127.0.0.1', () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
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

/**
 * Only deliberate errors reach the gateway: those with an extensions.code, and graphql-js's
 * own parse and validation errors (which graphql-ws passes on without a code), without schema
 * suggestions. Everything else (a resolver's unexpected throw) is logged and masked.
 */
function maskUnexpected(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    const code = formatted.extensions?.['code'];
    if (code ? code !== 'INTERNAL_SERVER_ERROR' : original === undefined) {
      const { message, locations, path, extensions } = formatted;
      return {
        message: message.replace(SUGGESTION, ''),
        ...(locations ? { locations } : {}),
        ...(path ? { path } : {}),
        ...(extensions ? { extensions } : {}),
      };
    }
    // The store being down is not a bug: say so with a code clients (and the gateway) can act on.
    if (isStoreUnavailable(original)) {
      logger.warn({ err: original }, 'resolver failed: the feature store is unavailable');
      return {
        message: 'the feature store is unavailable; retry later',
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { code: 'STORE_UNAVAILABLE' },
      };
    }
    logger.error({ err: original }, 'resolver failed');
    return { message: 'Internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedJson();
  }
}

/** Counts every ignored claim; logs the first, then at most one summary per interval. */
function ignoredClaimsReporter(subgraph: string, logger: Logger) {
  let lastLoggedAt = Number.NEGATIVE_INFINITY;
  let sinceLastLog = 0;
  return (transport: 'http' | 'ws', reason: Rejection) => {
    ignoredClaims.inc({ subgraph, transport, reason });
    sinceLastLog += 1;
    const now = Date.now();
    if (now - lastLoggedAt < IGNORED_CLAIMS_LOG_INTERVAL_MS) return;
    logger.warn(
      { ignored: sinceLastLog, latest: { transport, reason } },
      'caller claims not signed by the gateway were ignored (public scope); see tickcast_subgraph_unsigned_requests_total',
    );
    lastLoggedAt = now;
    sinceLastLog = 0;
  };
}
