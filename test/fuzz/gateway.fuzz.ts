/**
 * The running gateway, fuzzed over HTTP (POST and GET) and graphql-ws, in front of the five
 * real subgraphs over the real PostgreSQL, with live events from real Kafka. The gateway runs
 * in this process (`startApi`, as `tickcast start` runs it) so thousands of requests fit in
 * CI; every request still goes over a loopback socket.
 *
 * Properties, each its own test so each reports its own counterexample:
 *  - no 5xx, whatever the document, variables or headers;
 *  - no stack trace, file path, `stacktrace` extension or internal message in any answer.
 *    "Internal server error" is allowed only as the masked error itself: that message (or
 *    `Internal error in subgraph "x"`) with code INTERNAL_SERVER_ERROR and nothing else.
 *    Introspection is off, as in production, so "Did you mean ..." suggestions are a leak too;
 *  - a client's mistake (bad scalar, unknown operation, ...) is answered as the client's error,
 *    never with INTERNAL_SERVER_ERROR or SUBGRAPH_UNAVAILABLE: every subgraph is up throughout;
 *  - every refused request (an HTTP 4xx) is counted in `tickcast_gateway_rejected_total`;
 *  - over graphql-ws, several generated operations multiplexed on one socket never close it
 *    (an operation's error is an `error` message for that operation; only the close codes the
 *    protocol defines for connection-level problems may close a socket, and none applies to an
 *    authenticated client sending well-framed messages), no answer leaks, and a long-lived
 *    subscription on the same socket keeps receiving events; refused operations are counted;
 *  - the same HTTP properties against `tickcast gateway` as its own process (fewer cases), which
 *    must still be running and answering /health at the end;
 *  - the in-process gateway is alive at the end (/health answers).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { startApi, type RunningApi } from '../../cli/api.ts';
import { generateApiKey } from '../../gateway/auth.ts';
import { createLogger } from '../../lib/logger.ts';
import type { Prediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { createBus } from '../../streams/runtime.ts';
import { SUBGRAPHS } from '../../schema/subgraphs.ts';
import { samplePrediction } from '../support/events.ts';
import { freePort } from '../support/ports.ts';
import { startService, stopGracefully } from '../support/processes.ts';
import { isolate, waitFor, type Isolation } from '../support/services.ts';
import { graphqlRequest, headerSpec, type GraphQLRequest, type HeaderSpec } from './graphql-documents.ts';
import { counterTotal, fuzzParams } from './support.ts';

const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const PAIR = `F${suffix}/USD`;
const REJECTED = 'tickcast_gateway_rejected_total';

/** What must never reach a client: stack frames, source paths, internals' messages, schema suggestions. */
const LEAKS: readonly RegExp[] = [
  /\bat [\w$.<>]+ \(/, // a stack frame "at fn ("
  /\bat (file|node):/,
  /\.(ts|js|mjs|cjs):\d+/,
  /\/(work|home|usr|app|tmp)\//,
  /node_modules/,
  /stacktrace/i,
  /Cannot read propert/,
  /is not a function/,
  /is not defined/,
  /toJSON/,
  /\b(TypeError|ReferenceError|RangeError)\b/,
  /ECONNREFUSED|ECONNRESET|EPIPE/,
  // Schema suggestions; "Did you mean "field { ... }"?" only echoes the client's own field.
  /Did you mean (?!\\?"\w+ \{ \.\.\. \}\\?"\?)/,
  /\bSELECT\b|\bsearch_path\b|relation "/,
];

/** Codes that blame the server or a subgraph: with every subgraph up, no client input may produce them. */
const SERVER_SIDE: ReadonlySet<string> = new Set([
  'INTERNAL_SERVER_ERROR',
  'SUBGRAPH_UNAVAILABLE',
  'DOWNSTREAM_SERVICE_ERROR',
]);

const MASKED = /^(Internal server error|Internal error in subgraph "\w+")$/;

interface AnsweredError {
  message?: unknown;
  extensions?: { code?: unknown };
}

/** The leaks found in an answer's text and errors (empty when clean). */
function leaksIn(text: string, errors: readonly AnsweredError[]): string[] {
  const found = LEAKS.filter((pattern) => pattern.test(text)).map((p) => `matches ${p}`);
  for (const error of errors) {
    const message = String(error.message);
    const code = error.extensions?.code;
    if (/internal server error/i.test(message) && code !== 'INTERNAL_SERVER_ERROR')
      found.push(`"${message}" with code ${String(code)}`);
    if (code === 'INTERNAL_SERVER_ERROR' && !MASKED.test(message)) found.push(`unmasked internal error "${message}"`);
  }
  return found;
}

/** A `subscribe` payload as the graphql-transport-ws protocol defines it (anything else is a malformed message). */
function isSubscribePayload(request: GraphQLRequest): boolean {
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  return (
    isObject(request) &&
    typeof request.query === 'string' &&
    (request.operationName === undefined ||
      request.operationName === null ||
      typeof request.operationName === 'string') &&
    (request.variables === undefined || request.variables === null || isObject(request.variables)) &&
    (request.extensions === undefined || request.extensions === null || isObject(request.extensions))
  );
}

/** Sum of a counter over its label sets on a process's /metrics page (0 when absent). */
async function scrapeTotal(metricsPort: number, name: string): Promise<number> {
  const page = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return page
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

function errorsOf(body: unknown): AnsweredError[] {
  const errors = (body as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) ? (errors as AnsweredError[]) : [];
}

describe('fuzz: the gateway over HTTP and graphql-ws, real subgraphs, PostgreSQL and Kafka', () => {
  let iso: Isolation;
  let bus: Bus;
  let api: RunningApi;
  let key: string;
  let sequence = 0;

  before(async () => {
    const reader = generateApiKey('fuzz', ['read']);
    key = reader.key;
    iso = await isolate('fuzz', {
      PAIRS: PAIR,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_API_KEYS: reader.entry,
      // Production settings where they matter to what a client may see.
      GATEWAY_INTROSPECTION: 'false',
      GATEWAY_LANDING_PAGE: 'false',
      // The fuzzer is one very busy client: the rate limit is tested elsewhere.
      GATEWAY_RATE_LIMIT_BURST: '1000000',
      GATEWAY_RATE_LIMIT_PER_SECOND: '1000000',
      GATEWAY_SUBSCRIPTIONS_PER_KEY: '10000',
      GATEWAY_WS_CONNECTIONS_PER_KEY: '10000',
      // Every generated client is 127.0.0.1, and many send bad keys on purpose: the failed-auth
      // throttle (tested in gateway-hostile.e2e.ts) would refuse all of them after the 20th.
      GATEWAY_AUTH_FAILURES_PER_MINUTE: '1000000',
      ...(process.env['MLFLOW_TRACKING_URI'] ? { MLFLOW_TRACKING_URI: process.env['MLFLOW_TRACKING_URI'] } : {}),
    });
    const logger = createLogger(process.env['LOG_LEVEL'] ?? 'fatal');
    bus = await createBus(iso.config, logger);
    api = await startApi(iso.config, { pool: iso.pool, bus, logger });
  });

  after(async () => {
    await api?.gateway.stop();
    for (const subgraph of api?.subgraphs ?? []) await subgraph.stop();
    await bus?.close();
    await iso?.close();
  });

  /** Sends one generated request the way its method says; answers status, text and parsed body. */
  async function send(method: 'POST' | 'GET', request: GraphQLRequest, headers: HeaderSpec, target = api.gateway.url) {
    const h: Record<string, string> = { ...headers.extra };
    if (headers.contentType !== null && method === 'POST') h['content-type'] = headers.contentType;
    if (headers.auth === 'key' || headers.auth === 'both') h['x-api-key'] = key;
    if (headers.auth === 'wrong-key') h['x-api-key'] = `tck_fuzz_${'0'.repeat(32)}`;
    if (headers.auth === 'bearer-garbage' || headers.auth === 'both') h['authorization'] = 'Bearer not.a.jwt';
    let url = target;
    let body: string | undefined;
    if (method === 'POST') {
      body = JSON.stringify(request) ?? 'null';
    } else {
      const params = new URLSearchParams();
      if (typeof request === 'object' && request !== null) {
        for (const [name, value] of Object.entries(request)) {
          params.set(name, typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
        }
      } else {
        params.set('query', String(request));
      }
      url = `${url}?${params.toString()}`;
    }
    const response = await fetch(url, { method, headers: h, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: judged by its text
    }
    return { status: response.status, text, body: parsed };
  }

  const httpCase = fc.tuple(fc.constantFrom('POST' as const, 'GET' as const), graphqlRequest, headerSpec);
  const describeCase = (status: number, text: string) => `HTTP ${status}: ${text.slice(0, 400)}`;

  it('HTTP: never answers 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(httpCase, async ([method, request, headers]) => {
        const { status, text } = await send(method, request, headers);
        assert.ok(status < 500, describeCase(status, text));
      }),
      fuzzParams(600),
    );
  });

  it('HTTP: never shows a stack trace, a path or an internal message', async () => {
    await fc.assert(
      fc.asyncProperty(httpCase, async ([method, request, headers]) => {
        const { status, text, body } = await send(method, request, headers);
        assert.deepEqual(leaksIn(text, errorsOf(body)), [], describeCase(status, text));
      }),
      fuzzParams(600),
    );
  });

  it("HTTP: answers a client's mistake as one, never as a server or subgraph failure (all subgraphs are up)", async () => {
    await fc.assert(
      fc.asyncProperty(httpCase, async ([method, request, headers]) => {
        const { status, text, body } = await send(method, request, headers);
        const serverSide = errorsOf(body).filter((e) => SERVER_SIDE.has(String(e.extensions?.code)));
        assert.deepEqual(serverSide, [], describeCase(status, text));
      }),
      fuzzParams(600),
    );
  });

  it('HTTP: counts every refused request in tickcast_gateway_rejected_total', async () => {
    await fc.assert(
      fc.asyncProperty(httpCase, async ([method, request, headers]) => {
        const before = await counterTotal(REJECTED);
        const { status, text } = await send(method, request, headers);
        if (status >= 400 && status < 500) {
          assert.ok((await counterTotal(REJECTED)) > before, `not counted: ${describeCase(status, text)}`);
        }
      }),
      fuzzParams(600),
    );
  });

  /**
   * One graphql-ws socket (protocol graphql-transport-ws) with the long-lived subscription on it.
   * Spoken directly over `ws` rather than through graphql-ws's client: the test must see every
   * message and the exact close code, and that client leaves a promise rejected by the socket's
   * own normal closure unhandled once the server has answered an operation with `error`.
   */
  async function openSocket() {
    const socket = new WebSocket(api.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const state = {
      closed: undefined as { code: number; reason: string } | undefined,
      events: [] as unknown[],
      subscriptionErrors: [] as unknown[],
      /** Messages per operation id: next payloads, error payloads, and whether it completed. */
      operations: new Map<string, { results: unknown[]; errors: unknown[]; done: boolean }>(),
    };
    socket.on('close', (code, reason) => (state.closed = { code, reason: reason.toString() }));
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { type: string; id?: string; payload?: unknown };
      if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
      if (message.id === 'live') {
        if (message.type === 'next') state.events.push(message.payload);
        else if (message.type !== 'ping') state.subscriptionErrors.push(message);
        return;
      }
      const operation = message.id === undefined ? undefined : state.operations.get(message.id);
      if (!operation) return;
      if (message.type === 'next') operation.results.push(message.payload);
      if (message.type === 'error') {
        operation.errors.push(message.payload);
        operation.done = true;
      }
      if (message.type === 'complete') operation.done = true;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () =>
        socket.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key } })),
      );
      socket.on('message', (data) => {
        if ((JSON.parse(data.toString()) as { type: string }).type === 'connection_ack') resolve();
      });
      socket.once('close', (code) => reject(new Error(`closed with ${code} before connection_ack`)));
    });
    socket.send(
      JSON.stringify({
        id: 'live',
        type: 'subscribe',
        payload: {
          query: 'subscription Live($pair: ID) { predictionCreated(pair: $pair) { id predictedPrice } }',
          variables: { pair: PAIR },
        },
      }),
    );
    return { socket, state };
  }

  /** Publishes predictions until the socket's subscription has received one more event than before. */
  async function eventArrives(state: { events: unknown[]; closed?: unknown }, what: string): Promise<void> {
    const seen = state.events.length;
    await waitFor(
      what,
      async () => {
        if (state.events.length > seen || state.closed) return true;
        sequence += 1;
        const value: Prediction = samplePrediction(PAIR, sequence, { predictedPrice: 100 + sequence });
        await bus.publish([{ topic: TOPICS.predictions.name, key: PAIR, value }]);
        return false;
      },
      20_000,
      200,
    );
  }

  it('graphql-ws: multiplexed operations never close the socket, never leak, are counted when refused, and the live subscription keeps flowing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(graphqlRequest, { minLength: 1, maxLength: 5 }), async (requests) => {
        const { socket, state } = await openSocket();
        try {
          await eventArrives(state, 'the live subscription to start');
          assert.equal(state.closed, undefined, `socket closed before the operations: ${JSON.stringify(state.closed)}`);
          const rejectedBefore = await counterTotal(REJECTED);
          requests.forEach((request, i) => {
            state.operations.set(String(i), { results: [], errors: [], done: false });
            socket.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: request }));
          });
          // Queries answer and complete; a generated subscription streams: its first answers are enough.
          await waitFor(
            'the operations to answer',
            async () => state.closed !== undefined || [...state.operations.values()].every((o) => o.done),
            2_000,
            20,
          ).catch(() => undefined);
          if (!requests.every(isSubscribePayload)) {
            // A malformed message is the one operation-level thing the protocol answers by closing: 4400.
            const closed = () => state.closed as { code: number } | undefined;
            await waitFor('the socket to close', async () => closed() !== undefined, 5_000, 20);
            assert.equal(closed()?.code, 4400, `malformed subscribe answered with ${JSON.stringify(closed())}`);
            return;
          }
          assert.equal(state.closed, undefined, `an operation closed the socket: ${JSON.stringify(state.closed)}`);
          for (const id of state.operations.keys()) socket.send(JSON.stringify({ id, type: 'complete' }));
          await eventArrives(state, 'a live event after the operations');
          assert.equal(state.closed, undefined, `the socket closed: ${JSON.stringify(state.closed)}`);
          assert.deepEqual(state.subscriptionErrors, [], 'the live subscription failed');
          // An operation answered with `error` was refused: each one is counted.
          const refused = [...state.operations.values()].filter((o) => o.errors.length > 0).length;
          const counted = (await counterTotal(REJECTED)) - rejectedBefore;
          assert.ok(counted >= refused, `${refused} operations refused, ${counted} counted in ${REJECTED}`);
          for (const answer of state.operations.values()) {
            const text = JSON.stringify(answer);
            const errors = [
              ...answer.results.flatMap(errorsOf),
              ...answer.errors.flatMap((e) => (Array.isArray(e) ? (e as AnsweredError[]) : [])),
            ];
            assert.deepEqual(leaksIn(text, errors), [], text.slice(0, 400));
            const serverSide = errors.filter((e) => SERVER_SIDE.has(String(e.extensions?.code)));
            assert.deepEqual(serverSide, [], `a client's mistake answered as a server failure: ${text.slice(0, 400)}`);
          }
        } finally {
          socket.close(1000);
        }
      }),
      fuzzParams(40),
    );
  });

  it('the gateway as its own process (`tickcast gateway`): the same properties over the network, alive at the end', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const gateway = startService('gateway', ['gateway'], {
      ...iso.env,
      GATEWAY_PORT: String(port),
      METRICS_PORT: String(metricsPort),
      ...Object.fromEntries(SUBGRAPHS.map((name, i) => [`SUBGRAPH_${name.toUpperCase()}_URL`, api.subgraphs[i]!.url])),
    });
    const base = `http://127.0.0.1:${port}`;
    let failure: unknown;
    try {
      await waitFor(
        'the gateway process',
        () =>
          fetch(`${base}/ready`).then(
            (r) => r.ok,
            () => false,
          ),
        60_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${gateway.output()}`);
      });
      await fc
        .assert(
          fc.asyncProperty(httpCase, async ([method, request, headers]) => {
            const before = await scrapeTotal(metricsPort, REJECTED);
            const { status, text, body } = await send(method, request, headers, `${base}/graphql`);
            assert.ok(status < 500, describeCase(status, text));
            assert.deepEqual(leaksIn(text, errorsOf(body)), [], describeCase(status, text));
            const serverSide = errorsOf(body).filter((e) => SERVER_SIDE.has(String(e.extensions?.code)));
            assert.deepEqual(serverSide, [], describeCase(status, text));
            if (status >= 400 && status < 500)
              assert.ok(
                (await scrapeTotal(metricsPort, REJECTED)) > before,
                `not counted: ${describeCase(status, text)}`,
              );
          }),
          fuzzParams(100),
        )
        .catch((error: unknown) => (failure = error));
      // Alive whatever the properties found.
      assert.equal(gateway.child.exitCode, null, `the gateway process exited:\n${gateway.output()}`);
      assert.equal((await fetch(`${base}/health`)).status, 200);
    } finally {
      await stopGracefully(gateway);
    }
    if (failure) throw failure;
  });

  it('is alive at the end', async () => {
    const health = await fetch(api.gateway.url.replace(/\/graphql$/, '/health'));
    assert.equal(health.status, 200);
    assert.equal(api.gateway.ready(), true);
  });
});
