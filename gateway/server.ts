/**
 * The tickcast gateway: Apollo Gateway over the supergraph (the committed
 * schema/supergraph.graphql; composed by introspecting the subgraphs with
 * GATEWAY_SUPERGRAPH=introspect, dev only), behind a plain node:http server that we control
 * (the body size limit before Apollo sees a byte, CORS, and the requests Node's HTTP parser
 * refuses answered in JSON and counted), with graphql-ws subscriptions
 * (subscriptions/server.ts) on the same server's `upgrade` on /graphql.
 *
 * Both transports run one request pipeline (pipeline.ts): failed-auth throttle →
 * authentication → rate limit at the edge, then Apollo Server's own stages (APQ, parse,
 * validation) and the pipeline's operation stages (operation, transport, variables, scope,
 * limits) as an Apollo plugin, then execution, then error masking (errors.ts).
 *
 * Routes: /graphql (GraphQL; Apollo Sandbox for browsers with GATEWAY_LANDING_PAGE), /health
 * (alive), /ready (supergraph loaded, not stopping, and no dependency of the process down:
 * lib/dependencies.ts), /dashboard (the live dashboard, GATEWAY_DASHBOARD); / redirects to
 * /graphql. Metrics are on the ops endpoint (lib/ops-server.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin, type HTTPGraphQLResponse } from '@apollo/server';
import {
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { ApolloServerPluginUsageReporting } from '@apollo/server/plugin/usageReporting';
import type { GraphQLError } from 'graphql';
import { headerMap, PayloadTooLarge, readBody, writeApolloResponse } from '../lib/apollo-http.ts';
import { ConfigError } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { SUBGRAPHS } from '../schema/subgraphs.ts';
import { createAuthenticator, credentialsFromHeaders, type Authenticator } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { applyScalarInputRules } from '../schema/scalars.ts';
import { createErrorMasker, errorBody, rejectionReason, type GatewayErrorCode } from './errors.ts';
import { gatewayMetrics, type Outcome } from './metrics.ts';
import { RequestPipeline } from './pipeline.ts';
import { openLimitsStore } from './shared-limits.ts';
import { SubgraphDataSource } from './subgraphs.ts';
import { createDashboardHandler, isDashboardPath } from './dashboard/serve.ts';
import { SubscriptionPlanner } from './subscriptions/planner.ts';
import { startSubscriptionServer } from './subscriptions/server.ts';
import { readiness } from '../lib/dependencies.ts';

export interface GatewayDeps {
  readonly logger: Logger;
  /** Monotonic milliseconds for the per-replica rate limiter (tests; the shared one runs on the database clock). */
  readonly now?: () => number;
}

export interface RunningGateway {
  /** e.g. http://127.0.0.1:4000/graphql */
  readonly url: string;
  readonly port: number;
  readonly authDisabled: boolean;
  /** The supergraph is loaded and the gateway is not stopping (for the ops endpoint's /ready). */
  ready(): boolean;
  stop(): Promise<void>;
}

export const GRAPHQL_PATH = '/graphql';

/** Plugins that decide what Apollo Server does beyond our own code: landing page and Apollo Studio. */
export function apolloPlugins(
  config: Pick<GatewayConfig, 'landingPage' | 'apollo'>,
): ApolloServerPlugin<GatewayContext>[] {
  return [
    config.landingPage
      ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false, footer: false })
      : ApolloServerPluginLandingPageDisabled(),
    // Usage reporting only with both APOLLO_KEY and APOLLO_GRAPH_REF configured; otherwise it is
    // explicitly disabled, so an APOLLO_KEY left in the environment cannot make it phone home.
    config.apollo ? ApolloServerPluginUsageReporting() : ApolloServerPluginUsageReportingDisabled(),
    // Federated graphs publish their schema with rover, never from the gateway.
    ApolloServerPluginSchemaReportingDisabled(),
  ];
}

async function loadSupergraph(config: GatewayConfig, logger: Logger) {
  if (config.supergraph.kind === 'static') return readFile(config.supergraph.path, 'utf8');
  logger.warn('composing the supergraph by introspecting the subgraphs (GATEWAY_SUPERGRAPH=introspect): dev only');
  return new IntrospectAndCompose({
    subgraphs: SUBGRAPHS.map((name) => ({ name, url: config.subgraphs[name].url })),
  });
}

function apolloLogger(logger: Logger) {
  return {
    debug: (message: unknown) => logger.debug(String(message)),
    info: (message: unknown) => logger.info(String(message)),
    warn: (message: unknown) => logger.warn(String(message)),
    error: (message: unknown) => logger.error(String(message)),
  };
}

/** The reason label of a refusal Apollo Server answered at the HTTP level: its code, else the status. */
function httpRejectionReason(response: HTTPGraphQLResponse, status: number): string {
  if (response.body.kind === 'complete') {
    try {
      const code = (JSON.parse(response.body.string) as { errors?: { extensions?: { code?: unknown } }[] }).errors?.[0]
        ?.extensions?.code;
      const reason = rejectionReason(code);
      if (reason) return reason;
    } catch {
      // not JSON: fall back to the status
    }
  }
  return status === 406 ? 'not_acceptable' : `http_${status}`;
}

function writeError(
  res: ServerResponse,
  status: number,
  code: GatewayErrorCode | 'INTERNAL_SERVER_ERROR',
  message: string,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(errorBody(code, message));
}

function applyCors(req: IncomingMessage, res: ServerResponse, origins: readonly string[]): void {
  const origin = req.headers.origin;
  if (!origin) return;
  if (origins.includes('*')) {
    res.setHeader('access-control-allow-origin', '*');
  } else if (origins.includes(origin)) {
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'origin');
  } else {
    return;
  }
  res.setHeader('access-control-expose-headers', 'retry-after, www-authenticate, x-tickcast-auth');
  if (req.method === 'OPTIONS') {
    res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
    const requested = req.headers['access-control-request-headers'];
    if (requested) res.setHeader('access-control-allow-headers', requested);
    res.setHeader('access-control-max-age', '600');
  }
}

export async function createGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const logger = deps.logger.child({ component: 'gateway' });
  const authenticator: Authenticator = createAuthenticator(config.auth, logger);
  let ready = false;
  gatewayMetrics.ready.set(0);

  // One data source per subgraph, for query plans and for subscription events' entity fetches.
  const dataSources: Record<string, SubgraphDataSource> = Object.fromEntries(
    SUBGRAPHS.map((name) => [name, new SubgraphDataSource({ name, ...config.subgraphs[name] })]),
  );
  const gateway = new ApolloGateway({
    supergraphSdl: await loadSupergraph(config, logger),
    logger: apolloLogger(logger),
    buildService: ({ name }) => {
      const dataSource = dataSources[name];
      if (!dataSource) throw new ConfigError([`the supergraph has subgraph "${name}" but no URL is configured for it`]);
      return dataSource;
    },
  });

  const formatError = createErrorMasker(logger);
  const dashboard = config.dashboard ? await createDashboardHandler() : undefined;
  // After the loads that may fail, and closed when listen or start fails: its pool and heartbeat are not left behind.
  const limits = await openLimitsStore(config, { logger, ...(deps.now ? { now: deps.now } : {}) });
  const pipeline = new RequestPipeline({ config, authenticator, limits, logger });
  const httpServer = createServer();
  // A slow client cannot hold a connection open forever (Node's default is 5 minutes).
  httpServer.requestTimeout = 30_000;
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    logger: apolloLogger(logger),
    introspection: config.introspection,
    hideSchemaDetailsFromClientErrors: !config.introspection,
    includeStacktraceInErrorResponses: false,
    formatError,
    parseOptions: { maxTokens: config.limits.maxTokens },
    // Apollo Server's bounded in-memory LRU; APQ entries live in it under their own prefix.
    cache: 'bounded',
    persistedQueries: config.persistedQueries === false ? false : { ttl: config.persistedQueries.ttlSeconds },
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    stopOnTerminationSignals: false,
    ...(config.apollo ? { apollo: { key: config.apollo.key, graphRef: config.apollo.graphRef } } : {}),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: 10_000 }),
      ...apolloPlugins(config),
      pipeline.plugin(),
    ],
  });

  async function context(req: IncomingMessage, state: GatewayContext['state']): Promise<GatewayContext> {
    try {
      const principal = await pipeline.authenticate(
        credentialsFromHeaders((name) => {
          const value = req.headers[name];
          return Array.isArray(value) ? value[0] : value;
        }),
        req.socket.remoteAddress ?? 'unknown',
      );
      await pipeline.admit(principal);
      return { principal, transport: 'http', state };
    } catch (error) {
      const reason = rejectionReason((error as Partial<GraphQLError>).extensions?.['code']);
      state.outcome = reason ? 'rejected' : 'error';
      if (reason) gatewayMetrics.rejected.inc({ reason });
      throw error;
    }
  }

  async function handleGraphQL(
    req: IncomingMessage,
    res: ServerResponse,
    search: string,
  ): Promise<Outcome | undefined> {
    const { maxBodyBytes } = config.limits;
    if (req.method !== 'GET' && req.method !== 'POST') {
      writeError(res, 405, 'BAD_REQUEST', `${req.method} is not supported; use GET or POST`, { allow: 'GET, POST' });
      return 'error';
    }
    let text: string | undefined;
    try {
      if (req.method === 'POST') text = await readBody(req, maxBodyBytes);
      else if (search.length > maxBodyBytes) throw new PayloadTooLarge();
    } catch (error) {
      if (!(error instanceof PayloadTooLarge)) throw error;
      gatewayMetrics.rejected.inc({ reason: 'payload_too_large' });
      writeError(res, 413, 'PAYLOAD_TOO_LARGE', `the request exceeds ${maxBodyBytes} bytes`, { connection: 'close' });
      return 'rejected';
    }
    let body: unknown;
    if (text !== undefined && /^application\/(graphql-response\+)?json/i.test(req.headers['content-type'] ?? '')) {
      try {
        body = JSON.parse(text);
      } catch {
        writeError(res, 400, 'BAD_REQUEST', 'the request body is not valid JSON');
        return 'error';
      }
    }
    const headers = headerMap(req);
    const state: GatewayContext['state'] = {};
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method, headers, search, body },
      context: () => context(req, state),
    });
    if (authenticator.disabled) res.setHeader('x-tickcast-auth', 'disabled');
    // Apollo Server's HTTP checks (CSRF, content type, batching; an unacceptable `accept` after
    // execution) refuse outside the plugin's view: counted here, so every refusal shows.
    const status = response.status ?? 200;
    if (state.outcome !== 'rejected' && status >= 400 && status < 500) {
      state.outcome = 'rejected';
      gatewayMetrics.rejected.inc({ reason: httpRejectionReason(response, status) });
    }
    await writeApolloResponse(res, response);
    if (response.headers.get('content-type')?.startsWith('text/html')) return undefined; // the landing page
    return state.outcome ?? ((response.status ?? 200) >= 400 ? 'error' : 'ok');
  }

  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://gateway');
    applyCors(req, res, config.corsOrigins);
    void (async () => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204).end();
      } else if (url.pathname === GRAPHQL_PATH) {
        const outcome = await handleGraphQL(req, res, url.search);
        if (outcome) {
          gatewayMetrics.requests.inc({ outcome });
          gatewayMetrics.requestSeconds.observe({ outcome }, (performance.now() - started) / 1000);
        }
      } else if (url.pathname === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      } else if (url.pathname === '/ready') {
        // In `tickcast start` the process's stores and bus are the gateway's dependencies too.
        const readyNow = readiness(ready);
        res.writeHead(readyNow.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(readyNow.body);
      } else if (dashboard && isDashboardPath(url.pathname)) {
        dashboard(req, res, url.pathname);
      } else if (url.pathname === '/') {
        res.writeHead(302, { location: GRAPHQL_PATH }).end();
      } else {
        res.writeHead(404).end();
      }
    })().catch((error: unknown) => {
      logger.error({ err: error }, 'gateway request failed');
      gatewayMetrics.requests.inc({ outcome: 'error' });
      if (!res.headersSent) writeError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
      else res.destroy();
    });
  });
  // Requests Node's HTTP parser refuses (headers or URL over its limit, malformed HTTP) never
  // reach the handler above: answered and counted here instead of Node's silent default.
  httpServer.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    gatewayMetrics.rejected.inc({ reason: tooLarge ? 'headers_too_large' : 'malformed_http' });
    const body = errorBody(
      'BAD_REQUEST',
      tooLarge ? 'the request headers or URL are too large' : 'malformed HTTP request',
    );
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(
      `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  let planner: SubscriptionPlanner | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
    // The API schema Apollo Server validates against: give its custom scalars the contract's input rules.
    applyScalarInputRules(apiSchema);
    planner = new SubscriptionPlanner(coreSupergraphSdl, dataSources, logger);
  });
  const subscriptions = startSubscriptionServer({
    httpServer,
    path: GRAPHQL_PATH,
    config,
    pipeline,
    logger,
    planner: () => planner,
    formatError,
    run: (request, contextValue) => apollo.executeOperation(request, { contextValue }),
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    await limits.close();
    throw error;
  });
  try {
    await apollo.start();
  } catch (error) {
    await new Promise((resolve) => httpServer.close(resolve));
    await limits.close();
    throw error;
  }
  ready = true;
  gatewayMetrics.ready.set(1);

  const { port } = httpServer.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}${GRAPHQL_PATH}`;
  logger.info(
    { url, auth: authenticator.disabled ? 'DISABLED' : 'enabled', supergraph: config.supergraph.kind },
    'gateway listening',
  );

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    authDisabled: authenticator.disabled,
    ready: () => ready,
    stop: () => {
      stopping ??= (async () => {
        ready = false;
        gatewayMetrics.ready.set(0);
        await subscriptions.stop();
        await apollo.stop();
        for (const dataSource of Object.values(dataSources)) dataSource.close();
        await limits.close();
      })();
      return stopping;
    },
  };
}
