/**
 * GraphQL over WebSocket (graphql-ws protocol) on the gateway's own HTTP server and path.
 *
 *   connection_init  credentials from the payload (x-api-key / authorization) or the
 *                    upgrade request's headers; a bad or missing one closes with 4403.
 *   subscribe        parse (token limit) → validate against the API schema → scope →
 *                    rate limit → depth/alias/cost limits → per-key subscription limit →
 *                    subscriptions go to the hub (hub.ts); queries and mutations run
 *                    through Apollo Server like HTTP ones.
 *   slow client      its buffer overflows → the connection closes with 1008.
 *   shutdown         every subscription completes, then sockets close with 1001.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  getOperationAST,
  GraphQLError,
  parse,
  print,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import { getVariableValues } from 'graphql/execution/values.js';
import type { Context } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../lib/logger.ts';
import { gauge } from '../../lib/metrics.ts';
import { authorize, credentialsFromHeaders, type Authenticator, type Principal } from '../auth.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { gatewayError, rejectionReason } from '../errors.ts';
import { checkLimits } from '../limits.ts';
import { gatewayMetrics } from '../metrics.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { hubMetrics, SubscriptionHub } from './hub.ts';
import { NotASubscription, type SubscriptionPlanner } from './planner.ts';
import { UpstreamConnections } from './upstream.ts';

const connections = gauge('tickcast_gateway_ws_connections_active', 'graphql-ws connections open on the gateway');

/** Code for a client disconnected because it could not keep up (RFC 6455 "policy violation"). */
export const SLOW_CONSUMER_CLOSE = 1008;

/** Per-event entity fetches are shared by every client of a selection; they run with read scope only. */
const SUBSCRIPTION_PRINCIPAL: Principal = { kind: 'anonymous', id: 'gateway-subscriptions', scopes: new Set(['read']) };

/** What graphql-ws keeps per connection beside its own `Extra`: the authenticated caller. */
type ConnectionExtra = { principal?: Principal };

interface OperationContext {
  readonly principal: Principal;
  readonly socket: WebSocket;
}

export interface SubscriptionServerDeps {
  readonly httpServer: Server;
  readonly path: string;
  readonly config: GatewayConfig;
  readonly authenticator: Authenticator;
  readonly limiter: RateLimiter;
  readonly logger: Logger;
  /** The planner for the current supergraph; undefined until it is loaded. */
  readonly planner: () => SubscriptionPlanner | undefined;
  /** Runs a query or mutation like an HTTP request would (Apollo Server's pipeline). */
  readonly execute: (request: ExecutionArgs, context: GatewayContext) => Promise<ExecutionResult>;
  readonly formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}

export interface SubscriptionServer {
  readonly hub: SubscriptionHub;
  /** Completes every subscription, closes every socket and the upstream connections. */
  stop(): Promise<void>;
}

/** A connection_init payload key, case-insensitively (`x-api-key`, `Authorization`, ...). */
function param(params: Readonly<Record<string, unknown>> | undefined, name: string): string | undefined {
  if (!params) return undefined;
  for (const [key, value] of Object.entries(params)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * graphql-ws sends a frame and waits for its write callback before taking the next event:
 * one system call per frame per client. Answering at once instead lets frames queue in the
 * socket and leave together (writev). What a client has not read is bounded by bytes here:
 * past `maxBufferedBytes` it is disconnected as a slow consumer. Registered before
 * graphql-ws sees the socket, so every frame it sends goes through this.
 */
function coalesceWrites(socket: WebSocket, maxBufferedBytes: number): void {
  const send = socket.send.bind(socket);
  socket.send = ((data: string, done?: (error?: Error) => void) => {
    if (socket.bufferedAmount > maxBufferedBytes) {
      if (socket.readyState === socket.OPEN) {
        hubMetrics.dropped.inc({ reason: 'slow_consumer' });
        socket.close(SLOW_CONSUMER_CLOSE, `slow consumer: more than ${maxBufferedBytes} bytes unread`);
      }
    } else {
      send(data);
    }
    done?.();
  }) as WebSocket['send'];
}

function rejected(error: GraphQLError): readonly GraphQLError[] {
  const reason = rejectionReason(error.extensions['code']);
  if (reason) gatewayMetrics.rejected.inc({ reason });
  return [error];
}

export function startSubscriptionServer(deps: SubscriptionServerDeps): SubscriptionServer {
  const { config, logger } = deps;
  const limits = config.subscriptions;
  const log = logger.child({ component: 'subscriptions' });
  const upstream = new UpstreamConnections({
    urls: Object.fromEntries(Object.entries(config.subgraphs).map(([name, subgraph]) => [name, subgraph.url])),
    graceMs: limits.graceMs,
    maxBackoffMs: limits.maxBackoffMs,
    logger: log,
    onUnavailable: (subgraph) => hub.subgraphUnavailable(subgraph),
    onRecovered: () => undefined,
  });
  const hub = new SubscriptionHub(upstream, {
    clientBuffer: limits.clientBuffer,
    // Bursts (a replay, a reconnect) queue here before resolution; only a backlog this deep fails a group.
    maxPendingEvents: Math.max(10_000, limits.clientBuffer),
    context: { principal: SUBSCRIPTION_PRINCIPAL, state: {} } satisfies GatewayContext,
    logger: log,
  });
  const openByKey = new Map<string, number>();
  const release = (id: string): void => {
    const open = (openByKey.get(id) ?? 1) - 1;
    if (open > 0) openByKey.set(id, open);
    else openByKey.delete(id);
  };

  const wsServer = new WebSocketServer({ noServer: true, maxPayload: config.limits.maxBodyBytes });
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (new URL(request.url ?? '/', 'http://gateway').pathname !== deps.path) {
      socket.destroy();
      return;
    }
    wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
  };
  deps.httpServer.on('upgrade', onUpgrade);
  wsServer.on('connection', (socket) => {
    connections.inc();
    socket.once('close', () => connections.dec());
    coalesceWrites(socket, limits.maxBufferedBytes);
  });

  const subscribe = (args: ExecutionArgs): AsyncIterableIterator<ExecutionResult> | ExecutionResult => {
    const context = args.contextValue as OperationContext;
    const planner = deps.planner();
    const variables = (args.variableValues ?? {}) as Record<string, unknown>;
    const selectionKey = JSON.stringify([print(args.document), args.operationName ?? null, variables]);
    openByKey.set(context.principal.id, (openByKey.get(context.principal.id) ?? 0) + 1);
    try {
      if (!planner) throw new NotASubscription('the supergraph is not loaded yet');
      return hub.subscribe({
        selectionKey,
        plan: () => planner.plan(args.document, args.operationName ?? undefined, variables),
        onSlowConsumer: () =>
          context.socket.close(SLOW_CONSUMER_CLOSE, `slow consumer: more than ${limits.clientBuffer} events waiting`),
        onEnd: () => release(context.principal.id),
      });
    } catch (error) {
      release(context.principal.id);
      log.warn({ err: error }, 'subscription could not be planned');
      return { errors: [gatewayError('BAD_REQUEST', `the subscription could not be planned: ${String(error)}`)] };
    }
  };

  const handle = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      connectionInitWaitTimeout: limits.initTimeoutMs,
      onConnect: async (ctx: Context<Record<string, unknown> | undefined, Extra & Partial<ConnectionExtra>>) => {
        const params = ctx.connectionParams;
        const request = ctx.extra.request;
        const credentials = credentialsFromHeaders(
          (name) =>
            param(params, name) ??
            (name === 'x-api-key' ? param(params, 'apikey') : undefined) ??
            header(request, name),
        );
        try {
          ctx.extra.principal = await deps.authenticator.authenticate(
            credentials,
            request.socket.remoteAddress ?? 'unknown',
          );
          return true;
        } catch (error) {
          const reason = rejectionReason((error as Partial<GraphQLError>).extensions?.['code']);
          gatewayMetrics.rejected.inc({ reason: reason ?? 'unauthenticated' });
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      onSubscribe: (ctx, _id, payload) => {
        const principal = ctx.extra.principal;
        const planner = deps.planner();
        if (!principal) return [gatewayError('UNAUTHENTICATED', 'connection_init carried no valid credentials')];
        if (!planner) return [gatewayError('BAD_REQUEST', 'the gateway is starting; retry shortly')];
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: config.limits.maxTokens });
        } catch (error) {
          return [new GraphQLError((error as Error).message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        const invalid = validate(planner.schema, document);
        if (invalid.length > 0) {
          return invalid.map(
            (e) =>
              new GraphQLError(e.message, {
                nodes: e.nodes ?? null,
                extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
              }),
          );
        }
        const operation = getOperationAST(document, payload.operationName ?? undefined);
        if (!operation) return [gatewayError('BAD_REQUEST', 'name the operation to run (operationName)')];
        const coerced = getVariableValues(planner.schema, operation.variableDefinitions ?? [], payload.variables ?? {});
        if (coerced.errors)
          return coerced.errors.map((e) => new GraphQLError(e.message, { extensions: { code: 'BAD_USER_INPUT' } }));
        try {
          authorize(principal, operation.operation);
          deps.limiter.consume(principal.id);
          checkLimits(planner.schema, document, operation, coerced.coerced, config.limits);
          if (operation.operation === 'subscription' && (openByKey.get(principal.id) ?? 0) >= limits.perKey) {
            throw gatewayError('TOO_MANY_SUBSCRIPTIONS', `at most ${limits.perKey} open subscriptions per key`, {
              extensions: { limit: limits.perKey },
            });
          }
        } catch (error) {
          if (error instanceof GraphQLError) return rejected(error);
          throw error;
        }
        return {
          schema: planner.schema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: coerced.coerced,
          contextValue: { principal, socket: ctx.extra.socket } satisfies OperationContext,
        };
      },
      subscribe,
      execute: (args) => {
        const { principal } = args.contextValue as OperationContext;
        return deps.execute(args, { principal, state: {} });
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors?.length) return undefined;
        return {
          ...(result.data !== undefined ? { data: result.data } : {}),
          errors: result.errors.map((error) => deps.formatError(error.toJSON(), error)),
        };
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => deps.formatError(error.toJSON(), error)),
    },
    wsServer,
  );

  let stopping: Promise<void> | undefined;
  return {
    hub,
    stop: () => {
      stopping ??= (async () => {
        deps.httpServer.off('upgrade', onUpgrade);
        hub.completeAll();
        // Let graphql-ws write the `complete` messages before the sockets close.
        const deadline = Date.now() + 1_000;
        while (Date.now() < deadline && [...wsServer.clients].some((ws) => ws.bufferedAmount > 0)) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await new Promise((resolve) => setImmediate(resolve));
        await handle.dispose();
        upstream.dispose();
      })();
      return stopping;
    },
  };
}
