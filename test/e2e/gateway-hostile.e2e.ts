/**
 * The gateway against careless and hostile clients, with the real subgraphs over the real
 * PostgreSQL (issue 12). Each test pins one behaviour that was broken before the request
 * pipeline became one for HTTP and WebSocket: an operation's error closing the whole socket,
 * client mistakes answered 500, suggestions leaking over graphql-ws, the per-key
 * subscription limit raced, no per-key connection cap, JWT sessions outliving `exp`, and
 * failed authentication never throttled.
 *
 * The failed-auth throttle is per client address and every client here is 127.0.0.1, so
 * its test runs last.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import WebSocket from 'ws';
import { startApi, type RunningApi } from '../../cli/api.ts';
import { generateApiKey } from '../../gateway/auth.ts';
import { metricValue } from '../../lib/metrics.ts';
import { TOPICS } from '../../schema/topics.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { samplePrediction } from '../support/events.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const PAIR = 'BTC/USD';
const ISSUER = 'https://idp.test';
const AUDIENCE = 'tickcast-api';
const CONNECTIONS_PER_KEY = 3;
const SUBSCRIPTIONS_PER_KEY = 100;
const AUTH_FAILURES = 5;
const PREDICTIONS = 'subscription ($pair: ID) { predictionCreated(pair: $pair) { pair predictedPrice } }';

interface Message {
  readonly type: string;
  readonly id?: string;
  readonly payload?: unknown;
}

/** A raw graphql-transport-ws client: every message and the close code are visible. */
class RawSocket {
  readonly messages: Message[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly socket: WebSocket;
  private readonly opened: Promise<void>;

  constructor(url: string) {
    this.socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('message', (data) => this.messages.push(JSON.parse(String(data)) as Message));
    this.socket.on('close', (code, reason) => (this.closed = { code, reason: String(reason) }));
  }

  /** Sends connection_init and waits for the ack, or for the close that refuses it. */
  async init(payload: Record<string, unknown>): Promise<'ack' | number> {
    await this.opened;
    this.send({ type: 'connection_init', payload });
    await waitFor('connection_ack or close', async () => this.acked || this.closed !== undefined, 10_000);
    return this.acked ? 'ack' : this.closed!.code;
  }

  subscribe(id: string, query: string, variables: Record<string, unknown> = {}, extra: object = {}): void {
    this.send({ type: 'subscribe', id, payload: { query, variables, ...extra } });
  }

  of(id: string): Message[] {
    return this.messages.filter((m) => m.id === id);
  }

  /** The operation's end: its `error` message, or `complete`. */
  async ended(id: string): Promise<Message[]> {
    await waitFor(`operation ${id} to end`, async () => this.of(id).some((m) => m.type !== 'next'), 10_000);
    return this.of(id);
  }

  close(): void {
    this.socket.close(1000);
  }

  private get acked(): boolean {
    return this.messages.some((m) => m.type === 'connection_ack');
  }

  private send(message: object): void {
    this.socket.send(JSON.stringify(message));
  }
}

const codesOf = (payload: unknown): unknown[] =>
  (payload as { extensions?: { code?: unknown } }[]).map((e) => e.extensions?.code);

/** Nothing internal in what a client got: no stack frames, file paths or engine messages. */
function assertNothingInternal(text: string): void {
  assert.doesNotMatch(text, /stacktrace|\bat \S+ \(|\/work\/|node_modules|\.ts:\d+|toJSON|Cannot read prop/i, text);
  assert.doesNotMatch(text, /Did you mean/, `no schema suggestions: ${text}`);
}

describe('the gateway against careless and hostile clients', () => {
  let iso: Isolation;
  let api: RunningApi;
  let bus: MemoryBus;
  let jwks: Server;
  let signingKey: CryptoKey;
  const reader = generateApiKey('reader', ['read']);
  const racer = generateApiKey('racer', ['read']);
  const pooled = generateApiKey('pooled', ['read']);

  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(api.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': reader.key, ...headers },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, text, body: JSON.parse(text) as { data?: unknown; errors?: unknown[] } };
  };

  before(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    signingKey = privateKey;
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    jwks = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    iso = await isolate('hostile', {
      PAIRS: PAIR,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_AUTH: 'enabled',
      GATEWAY_API_KEYS: [reader.entry, racer.entry, pooled.entry].join(','),
      GATEWAY_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
      GATEWAY_JWT_ISSUER: ISSUER,
      GATEWAY_JWT_AUDIENCE: AUDIENCE,
      GATEWAY_INTROSPECTION: 'false',
      GATEWAY_LANDING_PAGE: 'false',
      GATEWAY_SUBSCRIPTIONS_PER_KEY: String(SUBSCRIPTIONS_PER_KEY),
      GATEWAY_WS_CONNECTIONS_PER_KEY: String(CONNECTIONS_PER_KEY),
      GATEWAY_AUTH_FAILURES_PER_MINUTE: String(AUTH_FAILURES),
      GATEWAY_RATE_LIMIT_PER_SECOND: '1000',
      GATEWAY_RATE_LIMIT_BURST: '1000',
    });
    bus = new MemoryBus();
    api = await startApi(iso.config, { pool: iso.pool, bus, logger: testLogger });
  });

  after(async () => {
    await api?.gateway.stop();
    for (const subgraph of api?.subgraphs ?? []) await subgraph.stop();
    await bus?.close();
    await iso?.close();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  it("keeps a socket's subscriptions running through its other operations' errors, each masked and its own", async () => {
    const socket = new RawSocket(api.gateway.url);
    try {
      assert.equal(await socket.init({ 'x-api-key': reader.key }), 'ack');
      socket.subscribe('live', PREDICTIONS, { pair: PAIR });
      // Publish until the subscription is established end to end (the subgraph's live feed is asynchronous).
      let minute = 0;
      await waitFor(
        'the first live prediction',
        async () => {
          await bus.publish([{ topic: TOPICS.predictions.name, key: PAIR, value: samplePrediction(PAIR, minute++) }]);
          await new Promise((resolve) => setTimeout(resolve, 100));
          return socket.of('live').some((m) => m.type === 'next');
        },
        15_000,
      );

      // An execution error from a subgraph (a deliberate BAD_USER_INPUT), with data.
      socket.subscribe('exec', `{ market(pair: "${PAIR}") { candles(interval: "7x") { edges { node { close } } } } }`);
      // Refused before execution: validation, a suggestion that must not leak, introspection off, bad scalars.
      socket.subscribe('invalid', '{ markts { pair } }');
      socket.subscribe('introspection', '{ __schema { types { name } } }');
      socket.subscribe(
        'datetime',
        'query ($from: DateTime) { market(pair: "BTC/USD") { candles(from: $from) { edges { node { close } } } } }',
        {
          from: 'yesterday',
        },
      );
      socket.subscribe('nameless', 'query A { markets { pair } } query B { markets { pair } }');
      socket.subscribe('unparsable', '{ markets { ');

      const exec = await socket.ended('exec');
      const next = exec.find((m) => m.type === 'next')?.payload as { data?: unknown; errors?: unknown[] };
      assert.deepEqual(codesOf(next.errors), ['BAD_USER_INPUT'], JSON.stringify(exec));
      assert.equal(exec.at(-1)?.type, 'complete');
      const refusals: Record<string, string> = {
        invalid: 'GRAPHQL_VALIDATION_FAILED',
        introspection: 'GRAPHQL_VALIDATION_FAILED',
        datetime: 'BAD_USER_INPUT',
        nameless: 'OPERATION_RESOLUTION_FAILURE',
        unparsable: 'GRAPHQL_PARSE_FAILED',
      };
      for (const [id, code] of Object.entries(refusals)) {
        const messages = await socket.ended(id);
        assert.equal(messages.at(-1)?.type, 'error', `${id}: ${JSON.stringify(messages)}`);
        assert.deepEqual(codesOf(messages.at(-1)?.payload), [code], `${id}: ${JSON.stringify(messages)}`);
      }
      assertNothingInternal(JSON.stringify(socket.messages));
      assert.match(JSON.stringify(socket.of('introspection')), /introspection/i);

      const before = socket.of('live').length;
      await bus.publish([{ topic: TOPICS.predictions.name, key: PAIR, value: samplePrediction(PAIR, minute++) }]);
      await waitFor('the live subscription to keep receiving', async () => socket.of('live').length > before, 10_000);
      assert.equal(socket.closed, undefined, 'the socket stays open');
    } finally {
      socket.close();
    }
  });

  it('answers client mistakes over HTTP with 4xx and a code, never 500', async () => {
    const cases: { name: string; body: unknown; status: number; code: string }[] = [
      { name: 'subscription by POST', body: { query: PREDICTIONS }, status: 400, code: 'BAD_REQUEST' },
      {
        name: 'several operations, no operationName',
        body: { query: 'query A { markets { pair } } query B { markets { base } }' },
        status: 400,
        code: 'OPERATION_RESOLUTION_FAILURE',
      },
      {
        name: 'unknown operationName',
        body: { query: 'query A { markets { pair } }', operationName: 'Nope' },
        status: 400,
        code: 'OPERATION_RESOLUTION_FAILURE',
      },
      {
        name: 'APQ hash mismatch',
        body: {
          query: '{ markets { pair } }',
          extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } },
        },
        status: 400,
        code: 'PERSISTED_QUERY_HASH_MISMATCH',
      },
      {
        name: 'malformed DateTime variable',
        body: {
          query: `query ($from: DateTime) { market(pair: "${PAIR}") { candles(from: $from) { edges { node { close } } } } }`,
          variables: { from: '2023-13-45' },
        },
        status: 400,
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'malformed DateTime literal',
        body: { query: `{ market(pair: "${PAIR}") { candles(from: "soon") { edges { node { close } } } } }` },
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
      },
      {
        name: 'a typo (suggestions hidden)',
        body: { query: '{ markts { pair } }' },
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
      },
    ];
    const rejectedBefore = await metricValue('tickcast_gateway_rejected_total', { reason: 'bad_user_input' });
    for (const c of cases) {
      const response = await post(c.body);
      assert.equal(response.status, c.status, `${c.name}: ${response.text}`);
      assert.deepEqual(codesOf(response.body.errors), [c.code], `${c.name}: ${response.text}`);
      assertNothingInternal(response.text);
    }
    assert.equal(
      await metricValue('tickcast_gateway_rejected_total', { reason: 'bad_user_input' }),
      rejectedBefore + 1,
      'the refused variable is counted',
    );
  });

  it('holds the per-key subscription limit against 120 concurrent starts on one socket', async () => {
    const socket = new RawSocket(api.gateway.url);
    try {
      assert.equal(await socket.init({ 'x-api-key': racer.key }), 'ack');
      for (let i = 0; i < 120; i++) socket.subscribe(`s${i}`, PREDICTIONS, { pair: PAIR });
      await waitFor(
        'every start answered',
        async () => (await metricValue('tickcast_gateway_subscriptions_active')) >= SUBSCRIPTIONS_PER_KEY,
        20_000,
      );
      await waitFor('the refusals', async () => socket.messages.filter((m) => m.type === 'error').length >= 20, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const refused = socket.messages.filter((m) => m.type === 'error');
      assert.equal(refused.length, 120 - SUBSCRIPTIONS_PER_KEY, JSON.stringify(refused.slice(0, 2)));
      for (const m of refused) assert.deepEqual(codesOf(m.payload), ['TOO_MANY_SUBSCRIPTIONS']);
      assert.equal(await metricValue('tickcast_gateway_subscriptions_active'), SUBSCRIPTIONS_PER_KEY);
      assert.equal(socket.closed, undefined);
    } finally {
      socket.close();
    }
    await waitFor(
      'the slots freed',
      async () => (await metricValue('tickcast_gateway_subscriptions_active')) === 0,
      10_000,
    );
  });

  it('caps WebSocket connections per key (4429) and frees a slot when one closes', async () => {
    const sockets = Array.from({ length: CONNECTIONS_PER_KEY }, () => new RawSocket(api.gateway.url));
    try {
      for (const socket of sockets) assert.equal(await socket.init({ 'x-api-key': pooled.key }), 'ack');
      const extra = new RawSocket(api.gateway.url);
      assert.equal(await extra.init({ 'x-api-key': pooled.key }), 4429);
      const otherKey = new RawSocket(api.gateway.url);
      assert.equal(await otherKey.init({ 'x-api-key': reader.key }), 'ack', 'another key is not affected');
      otherKey.close();
      sockets[0]!.close();
      await waitFor('the close to be seen', async () => sockets[0]!.closed !== undefined, 5_000);
      const again = new RawSocket(api.gateway.url);
      await waitFor('a freed slot', async () => (await again.init({ 'x-api-key': pooled.key })) === 'ack', 5_000);
      again.close();
    } finally {
      for (const socket of sockets) socket.close();
    }
  });

  it("ends a JWT's WebSocket session with 4403 at the token's exp", async () => {
    const exp = Math.floor(Date.now() / 1000) + 3;
    const token = await new SignJWT({ scope: 'read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('trader-1')
      .setExpirationTime(exp)
      .sign(signingKey);
    const socket = new RawSocket(api.gateway.url);
    assert.equal(await socket.init({ authorization: `Bearer ${token}` }), 'ack');
    socket.subscribe('live', PREDICTIONS, { pair: PAIR });
    await waitFor('the session to end', async () => socket.closed !== undefined, 10_000);
    assert.equal(socket.closed?.code, 4403);
    assert.ok(Date.now() >= exp * 1000 - 50, 'not before exp');
  });

  it('throttles failed authentication per address before checking credentials', async () => {
    const throttledBefore = await metricValue('tickcast_gateway_rejected_total', { reason: 'auth_throttled' });
    for (let i = 0; i < AUTH_FAILURES; i++) {
      const response = await post({ query: '{ markets { pair } }' }, { 'x-api-key': `tck_guess_${i}` });
      assert.equal(response.status, 401, response.text);
    }
    const refused = await post({ query: '{ markets { pair } }' }, { 'x-api-key': 'tck_guess_again' });
    assert.equal(refused.status, 429, refused.text);
    assert.deepEqual(codesOf(refused.body.errors), ['AUTH_THROTTLED']);
    const valid = await post({ query: '{ markets { pair } }' });
    assert.equal(valid.status, 429, 'refused unheard: the key is not even looked at');
    const socket = new RawSocket(api.gateway.url);
    assert.equal(await socket.init({ 'x-api-key': 'tck_guess_ws' }), 4429);
    assert.equal(
      await metricValue('tickcast_gateway_rejected_total', { reason: 'auth_throttled' }),
      throttledBefore + 3,
    );
  });
});
