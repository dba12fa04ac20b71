/**
 * GraphQL over WebSocket (graphql-ws protocol) on the gateway's own HTTP server and path.
 * Every operation runs the gateway's one request pipeline (../pipeline.ts), as HTTP does:
 *
 *   connection_init  failed-auth throttle → authentication (credentials from the payload or
 *                    the upgrade request's headers) → per-key connection slot. Bad or missing
 *                    credentials close with 4403, a throttled address or a key over its
 *                    connection limit with 4429; a JWT session closes with 4403 at its `exp`.
 *   subscribe        rate limit → Apollo Server's pipeline (APQ, parse, validation, the
 *                    operation stages, masking) → subscriptions go to the hub (hub.ts),
 *                    queries and mutations are executed by Apollo Gateway.
 *   errors           belong to their operation only (an `error` or `next` message, masked);
 *                    they never close the socket that other operations share.
 *   slow client      more than GATEWAY_WS_MAX_BUFFERED_BYTES unread → the connection closes with 1008.
 *   shutdown         every subscription completes, then sockets close with 1001.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GraphQLRequest, GraphQLResponse } from '@apollo/server';
import {
  buildSchema,
  GraphQLError,
  parse,
  print,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../lib/logger.ts';
import { gauge } from '../../lib/metrics.ts';
import { credentialsFromHeaders, type Principal } from '../auth.ts';
import type { GatewayConfig } from '../config.ts';
import type { AcceptedSubscription, GatewayContext } from '../context.ts';
import { gatewayError, rejectionReason } from '../errors.ts';
import { gatewayMetrics } from '../metrics.ts';
import type { RequestPipeline } from '../pipeline.ts';
import { hubMetrics, SubscriptionHub } from './hub.ts';
import type { SubscriptionPlanner } from './planner.ts';
import { UpstreamConnections } from './upstream.ts';

const connections = gauge('tickcast_gateway_ws_connections_active', 'graphql-ws connections open on the gateway');

/** Code for a client disconnected because it could not keep up (RFC 6455 "policy violation"). */
export const SLOW_CONSUMER_CLOSE = 1008;

/** Per-event entity fetches are shared by every client of a selection; they run with read scope only. */
const SUBSCRIPTION_PRINCIPAL: Principal = { kind: 'anonymous', id: 'gateway-subscriptions', scopes: new Set(['read']) };

/** graphql-ws close code for "too many requests" (its own, for repeated connection_init). */
export const TOO_MANY_REQUESTS_CLOSE = 4429;
/** graphql-ws close code for "forbidden": bad credentials, or a token that expired mid-session. */
export const FORBIDDEN_CLOSE = 4403;
/** setTimeout's longest delay; a token valid for longer is checked again when that fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What graphql-ws keeps per connection beside its own `Extra`. */
type ConnectionExtra = {
  principal?: Principal;
  releaseConnection?: () => void;
  expiry?: NodeJS.Timeout;
};

/** The context of an operation accepted on a socket: a subscription for the hub, or a result already computed. */
type OperationContext =
  | {
      readonly kind: 'subscription';
      readonly accepted: AcceptedSubscription;
      readonly socket: WebSocket;
      /** The client's id for the operation, which its `next` messages carry. */
      readonly id: string;
    }
  | { readonly kind: 'result'; readonly result: FormattedExecutionResult };

export interface SubscriptionServerDeps {
  readonly httpServer: Server;
  readonly path: string;
  readonly config: GatewayConfig;
  readonly pipeline: RequestPipeline;
  readonly logger: Logger;
  /** The planner for the current supergraph; undefined until it is loaded. */
  readonly planner: () => SubscriptionPlanner | undefined;
  /** Apollo Server's pipeline for one operation (executeOperation). */
  readonly run: (request: GraphQLRequest, context: GatewayContext) => Promise<GraphQLResponse>;
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
    if (!cutIfSlow(socket, maxBufferedBytes)) send(data);
    done?.();
  }) as WebSocket['send'];
}

/** True when more than `maxBufferedBytes` wait unread: the socket is closed as a slow consumer. */
function cutIfSlow(socket: WebSocket, maxBufferedBytes: number): boolean {
  if (socket.bufferedAmount <= maxBufferedBytes) return false;
  if (socket.readyState === socket.OPEN) {
    hubMetrics.dropped.inc({ reason: 'slow_consumer' });
    socket.close(SLOW_CONSUMER_CLOSE, `slow consumer: more than ${maxBufferedBytes} bytes unread`);
  }
  return true;
}

const NEXT_TAIL = Buffer.from('}');

/**
 * graphql-ws `next` messages for operation `id` are `{"id":…,"type":"next","payload":` (this
 * head, made once per operation), the payload's JSON shared by every client of the selection,
 * and `}`: what graphql-ws's stringifyMessage writes, without serialising the payload per client.
 */
export function nextMessageHead(id: string): Buffer {
  return Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
}

/**
 * The `next` messages of operation `head` carrying `payloads`, as the WebSocket frames a
 * server sends (RFC 6455 5.2: one final, unmasked text frame each, no extension), in one
 * Buffer for one socket write.
 */
export function nextFrames(head: Buffer, payloads: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  for (const payload of payloads) {
    const length = head.length + payload.length + NEXT_TAIL.length;
    const frameHead = frameHeader(length);
    parts.push(frameHead, head, payload, NEXT_TAIL);
    size += frameHead.length + length;
  }
  return Buffer.concat(parts, size);
}

const FIN_TEXT = 0x81;

function frameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([FIN_TEXT, length]);
  if (length < 65_536) return Buffer.from([FIN_TEXT, 126, length >>> 8, length & 0xff]);
  const header = Buffer.alloc(10);
  header[0] = FIN_TEXT;
  header[1] = 127;
  header.writeUIntBE(length, 4, 6); // 64-bit length; a Buffer is far below 2^48 bytes
  return header;
}

/**
 * Queries and mutations are executed inside Apollo's pipeline before graphql-ws asks for them;
 * graphql-ws still wants a document to look at, and `execute` then hands over the result.
 */
const RESULT_SCHEMA = buildSchema('type Query { _: Boolean }');
const RESULT_DOCUMENT = parse('{ __typename }');

/** Errors and results that went through Apollo's formatError already: sent as they are. */
const masked = new WeakSet<object>();

function premaskedErrors(errors: readonly GraphQLFormattedError[]): GraphQLError[] {
  return errors.map((formatted) => {
    const error = new GraphQLError(formatted.message, { extensions: formatted.extensions ?? {} });
    masked.add(error);
    return error;
  });
}

function countRejection(error: unknown): void {
  const reason = rejectionReason((error as Partial<GraphQLError>).extensions?.['code']);
  if (reason) gatewayMetrics.rejected.inc({ reason });
}

export function startSubscriptionServer(deps: SubscriptionServerDeps): SubscriptionServer {
  const { config, logger, pipeline } = deps;
  const limits = config.subscriptions;
  const log = logger.child({ component: 'subscriptions' });
  const upstream = new UpstreamConnections({
    urls: Object.fromEntries(Object.entries(config.subgraphs).map(([name, subgraph]) => [name, subgraph.url])),
    // connection_init is signed like HTTP requests, so subgraphs can believe the gateway's claims.
    signingSecrets: Object.fromEntries(
      Object.entries(config.subgraphs).map(([name, subgraph]) => [name, subgraph.signingSecret]),
    ),
    graceMs: limits.graceMs,
    maxBackoffMs: limits.maxBackoffMs,
    logger: log,
    onUnavailable: (subgraph) => hub.subgraphUnavailable(subgraph),
    onRecovered: () => undefined,
  });
  const hub = new SubscriptionHub(upstream, {
    // Bursts (a replay, a reconnect) queue here before resolution; only a backlog this deep fails a group.
    maxPendingEvents: 10_000,
    context: { principal: SUBSCRIPTION_PRINCIPAL, transport: 'ws', state: {} } satisfies GatewayContext,
    logger: log,
    encode: (result) => Buffer.from(JSON.stringify(nextPayload(result))),
  });

  // No permessage-deflate: subscription events are written as ready-made frames (nextFrames).
  const wsServer = new WebSocketServer({
    noServer: true,
    maxPayload: config.limits.maxBodyBytes,
    perMessageDeflate: false,
  });
  /** The TCP socket under each WebSocket, which subscription events are written to directly. */
  const transports = new WeakMap<WebSocket, Duplex>();
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (new URL(request.url ?? '/', 'http://gateway').pathname !== deps.path) {
      socket.destroy();
      return;
    }
    wsServer.handleUpgrade(request, socket, head, (ws) => {
      transports.set(ws, socket);
      wsServer.emit('connection', ws, request);
    });
  };
  deps.httpServer.on('upgrade', onUpgrade);
  wsServer.on('connection', (socket) => {
    connections.inc();
    socket.once('close', () => connections.dec());
    coalesceWrites(socket, limits.maxBufferedBytes);
  });

  /** Formats errors for the wire: Apollo's results are masked already, anything else is masked here. */
  const wireErrors = (errors: readonly (GraphQLError | GraphQLFormattedError)[]): GraphQLFormattedError[] =>
    errors.map((error) => {
      if (masked.has(error)) return error instanceof GraphQLError ? error.toJSON() : error;
      return deps.formatError(error instanceof GraphQLError ? error.toJSON() : error, error);
    });

  /**
   * A `next` message's payload, for graphql-ws (`onNext`) and for the hub's shared bytes alike:
   * errors masked, and graphql-ws's own shape otherwise.
   */
  const nextPayload = (result: ExecutionResult): FormattedExecutionResult => {
    // Apollo's results are formatted already (graphql-ws would call toJSON on their errors).
    if (masked.has(result)) return result as FormattedExecutionResult;
    const { errors, ...withoutErrors } = result;
    if (!errors?.length) return errors ? { ...withoutErrors, errors: [] } : withoutErrors;
    return {
      ...(result.data !== undefined ? { data: result.data } : {}),
      errors: wireErrors(errors),
    };
  };

  const subscribe = (args: ExecutionArgs): AsyncIterableIterator<ExecutionResult> | ExecutionResult => {
    const context = args.contextValue as OperationContext;
    if (context.kind !== 'subscription') return context.result as ExecutionResult;
    const { accepted, socket } = context;
    const planner = deps.planner();
    const head = nextMessageHead(context.id);
    const transport = transports.get(socket)!;
    try {
      if (!planner) throw new Error('the supergraph is not loaded yet');
      return hub.subscribe({
        // Per client, the events' shared bytes behind this operation's head and a frame header,
        // appended to one buffer and written at once. ws writes its own frames (graphql-ws's
        // other messages) whole and synchronously too, queueing only while it compresses (off)
        // or reads a Blob (graphql-ws sends strings), so messages cannot interleave; its
        // bufferedAmount counts these bytes, so the slow-consumer bound holds.
        write: (encoded) => {
          if (socket.readyState !== socket.OPEN || cutIfSlow(socket, limits.maxBufferedBytes)) return;
          transport.write(nextFrames(head, encoded));
        },
        selectionKey: JSON.stringify([print(accepted.document), accepted.operationName, accepted.variables]),
        plan: () => planner.plan(accepted.document, accepted.operationName ?? undefined, accepted.variables),
        onEnd: accepted.release,
      });
    } catch (error) {
      accepted.release();
      log.warn({ err: error }, 'subscription could not be planned');
      return { errors: [gatewayError('BAD_REQUEST', 'the subscription could not be planned')] };
    }
  };

  const handle = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      connectionInitWaitTimeout: limits.initTimeoutMs,
      onConnect: async (ctx: Context<Record<string, unknown> | undefined, Extra & Partial<ConnectionExtra>>) => {
        const params = ctx.connectionParams;
        const { request, socket } = ctx.extra;
        const credentials = credentialsFromHeaders(
          (name) =>
            param(params, name) ??
            (name === 'x-api-key' ? param(params, 'apikey') : undefined) ??
            header(request, name),
        );
        let principal: Principal;
        try {
          principal = await pipeline.authenticate(credentials, request.socket.remoteAddress ?? 'unknown');
        } catch (error) {
          countRejection(error);
          const code = (error as Partial<GraphQLError>).extensions?.['code'];
          if (code === 'AUTH_THROTTLED')
            socket.close(TOO_MANY_REQUESTS_CLOSE, 'too many failed authentication attempts');
          return false; // graphql-ws closes with 4403 Forbidden
        }
        const release = await pipeline.connectionSlots.tryAcquire(principal.id);
        // Closed while the slot was being taken (a shared store answers asynchronously): onClose
        // has run already and would never release it.
        if (release && socket.readyState !== socket.OPEN) {
          release();
          return false;
        }
        if (!release) {
          gatewayMetrics.rejected.inc({ reason: 'too_many_connections' });
          socket.close(TOO_MANY_REQUESTS_CLOSE, `at most ${limits.connectionsPerKey} connections per key`);
          return false;
        }
        ctx.extra.principal = principal;
        ctx.extra.releaseConnection = release;
        if (principal.expiresAt !== undefined) {
          const closeAtExpiry = (): void => {
            const left = principal.expiresAt! - Date.now();
            if (left > 0) ctx.extra.expiry = setTimeout(closeAtExpiry, Math.min(left, MAX_TIMER_MS));
            else socket.close(FORBIDDEN_CLOSE, 'Forbidden: the token expired');
          };
          closeAtExpiry();
        }
        return true;
      },
      onClose: (ctx) => {
        ctx.extra.releaseConnection?.();
        clearTimeout(ctx.extra.expiry);
      },
      onSubscribe: async (ctx, id, payload) => {
        const principal = ctx.extra.principal;
        if (!principal)
          return premaskedErrors([{ message: 'not authenticated', extensions: { code: 'UNAUTHENTICATED' } }]);
        try {
          await pipeline.admit(principal);
        } catch (error) {
          countRejection(error);
          return [error as GraphQLError];
        }
        const state: GatewayContext['state'] = {};
        const response = await deps.run(
          {
            query: payload.query,
            ...(payload.operationName != null ? { operationName: payload.operationName } : {}),
            ...(payload.variables ? { variables: payload.variables } : {}),
            ...(payload.extensions ? { extensions: payload.extensions } : {}),
          },
          { principal, transport: 'ws', state },
        );
        if (state.subscription) {
          return {
            schema: RESULT_SCHEMA,
            document: state.subscription.document,
            operationName: state.subscription.operationName,
            variableValues: state.subscription.variables,
            contextValue: {
              kind: 'subscription',
              accepted: state.subscription,
              socket: ctx.extra.socket,
              id,
            } satisfies OperationContext,
          };
        }
        if (response.body.kind !== 'single') {
          return premaskedErrors([
            { message: 'incremental delivery is not supported over WebSocket', extensions: { code: 'BAD_REQUEST' } },
          ]);
        }
        const result = response.body.singleResult;
        // No `data` at all: the request was refused before execution (an `error` message for this operation).
        if (!('data' in result) && result.errors?.length) return premaskedErrors(result.errors);
        masked.add(result);
        return {
          schema: RESULT_SCHEMA,
          document: RESULT_DOCUMENT,
          contextValue: { kind: 'result', result } satisfies OperationContext,
        };
      },
      subscribe,
      execute: subscribe,
      onNext: (_ctx, _id, _payload, _args, result) => nextPayload(result as ExecutionResult),
      onError: (_ctx, _id, _payload, errors) => wireErrors(errors),
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
