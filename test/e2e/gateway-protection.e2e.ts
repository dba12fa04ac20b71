/**
 * The gateway end to end, in front of the five real subgraphs over the real PostgreSQL (a
 * schema of its own, seeded here) and the local model registry, reached over HTTP like a
 * client would. Between the gateway and each subgraph sits a recording pass-through: it
 * counts the requests that reach a subgraph ("rejected before execution" means that count
 * did not move) and keeps the scopes each carried. It also injects the faults a real
 * subgraph does not produce on demand: holding one answer (a slow subgraph) and, once, a
 * careless subgraph's unmasked error (the real ones mask their own).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createLogger } from '../../lib/logger.ts';
import { metricValue } from '../../lib/metrics.ts';
import { SUBGRAPHS, type SubgraphName } from '../../schema/subgraphs.ts';
import { generateApiKey } from '../../gateway/auth.ts';
import { gatewayConfigFromEnv, type GatewayConfig } from '../../gateway/config.ts';
import { loadConfig } from '../../lib/config.ts';
import { SCOPES_HEADER } from '../../lib/internal-signature.ts';
import { createGateway, type RunningGateway } from '../../gateway/server.ts';
import { openRegistry } from '../../registry/index.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { subgraphDefinition } from '../../subgraphs/catalog.ts';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { registerConstantChampion } from '../support/champions.ts';
import { isolate, type Isolation } from '../support/services.ts';

/** Silent unless asked: the predictions subgraph logs the store fault this test causes on purpose. */
const logger = createLogger(process.env['LOG_LEVEL'] ?? 'silent');
const BURST = 50;
const MAX_BODY_BYTES = 20_000;
const MODELS_TIMEOUT_MS = 500;
const MODEL = 'tickcast-btc-usd-5m';
/** What the gateway signs forwarded requests with, and the subgraphs verify. */
const INTERNAL_SECRET = randomBytes(32).toString('base64url');

// ---- the real subgraphs, each behind a recording pass-through ----

/** Requests that reached any subgraph. */
let forwarded = 0;
/** x-tickcast-scopes as each subgraph request carried it. */
const seenScopes: string[] = [];
/** While set, the models subgraph's answers are held until it resolves. */
let modelsHang: { promise: Promise<void>; release: () => void } | undefined;
/** While set, the predictions pass-through answers with this body instead of forwarding. */
let predictionsLeak: unknown;

interface Fronted {
  readonly subgraph: RunningSubgraph;
  readonly front: Server;
  readonly url: string;
  stopped: boolean;
}

async function startFronted(name: SubgraphName, iso: Isolation, bus: MemoryBus): Promise<Fronted> {
  const subgraph = await startSubgraph(subgraphDefinition(name, iso.config), {
    pool: iso.pool,
    bus,
    logger,
    port: 0,
    host: '127.0.0.1',
    internalSecrets: [INTERNAL_SECRET],
  });
  const target = new URL(subgraph.url);
  const front = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        forwarded++;
        seenScopes.push(String(req.headers[SCOPES_HEADER] ?? ''));
        if (name === 'models') await modelsHang?.promise;
        if (name === 'predictions' && predictionsLeak !== undefined) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(predictionsLeak));
          return;
        }
        // The same method, path, headers and body: the gateway's signature still verifies.
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      })();
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}${target.pathname}`;
  return { subgraph, front, url, stopped: false };
}

async function stopFronted(fronted: Fronted): Promise<void> {
  if (fronted.stopped) return;
  fronted.stopped = true;
  fronted.front.closeAllConnections();
  await new Promise((resolve) => fronted.front.close(resolve));
  await fronted.subgraph.stop();
}

// ---- identity provider ----

const ISSUER = 'https://idp.tickcast.test/';
const AUDIENCE = 'tickcast-api';

async function startJwks(): Promise<{
  server: Server;
  url: string;
  sign: (claims: Record<string, unknown>, audience?: string) => Promise<string>;
}> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'ES256', use: 'sig' };
  const server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sign = (claims: Record<string, unknown>, audience = AUDIENCE) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'test-1' })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(privateKey as CryptoKey);
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, sign };
}

// ---- client ----

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: GraphQLBody;
}

let gateway: RunningGateway;

async function post(
  payload: unknown,
  headers: Record<string, string> = {},
  { url = gateway.url, timeoutMs = 10_000 } = {},
): Promise<Reply> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
    // A gateway that forgets a deadline fails this test instead of hanging it.
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLBody };
}

const codes = (reply: Reply) => reply.body.errors?.map((e) => e.extensions?.['code']);

/** A chunked POST (no content-length), as a streaming client would send it. */
function postChunked(
  url: string,
  chunks: string[],
  headers: Record<string, string>,
): Promise<{ status: number; body: GraphQLBody }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as GraphQLBody }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

const rejected = (reason: string) => metricValue('tickcast_gateway_rejected_total', { reason });

// ---- setup ----

const subgraphs = new Map<SubgraphName, Fronted>();
let iso: Isolation;
let bus: MemoryBus;
let dataDir: string;
let jwks: Awaited<ReturnType<typeof startJwks>>;
const keys: Record<'reader' | 'admin' | 'limited', string> = { reader: '', admin: '', limited: '' };

async function gatewayConfig(extra: Record<string, string>): Promise<GatewayConfig> {
  const urls = Object.fromEntries(
    [...subgraphs].map(([name, subgraph]) => [`SUBGRAPH_${name.toUpperCase()}_URL`, subgraph.url]),
  );
  return gatewayConfigFromEnv(
    loadConfig({
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_RATE_LIMIT_PER_SECOND: '0.05',
      GATEWAY_RATE_LIMIT_BURST: String(BURST),
      GATEWAY_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      GATEWAY_SUBGRAPH_TIMEOUTS: `models=${MODELS_TIMEOUT_MS}`,
      TICKCAST_INTERNAL_SECRET: INTERNAL_SECRET,
      ...urls,
      ...extra,
    }),
  );
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tickcast-gwprotect-'));
  iso = await isolate('gwprotect', { PAIRS: 'BTC/USD', TICKCAST_DATA_DIR: dataDir });
  // BTC's last hour of news, as the sentiment features processor would have stored it.
  await iso.pool.query(
    `INSERT INTO sentiment_features (coin, window_name, as_of, mean_score, count, bullish_ratio, bearish_ratio)
     VALUES ('BTC', '1h', '2024-01-01T00:00:00Z', 0.25, 4, 0.5, 0.25)`,
  );
  // Two versions in the local registry, the champion on the second.
  const registry = openRegistry({ dataDir });
  for (const intercept of [0, 0.001]) await registerConstantChampion(registry, MODEL, intercept);
  bus = new MemoryBus();
  for (const name of SUBGRAPHS) subgraphs.set(name, await startFronted(name, iso, bus));
  jwks = await startJwks();
  const entries: string[] = [];
  for (const [id, scopes] of [
    ['reader', ['read']],
    ['admin', ['read', 'admin']],
    ['limited', ['read']],
  ] as const) {
    const generated = generateApiKey(id, scopes);
    keys[id] = generated.key;
    entries.push(generated.entry);
  }
  gateway = await createGateway(
    await gatewayConfig({
      GATEWAY_API_KEYS: entries.join(','),
      GATEWAY_JWKS_URL: jwks.url,
      GATEWAY_JWT_ISSUER: ISSUER,
      GATEWAY_JWT_AUDIENCE: AUDIENCE,
      GATEWAY_JWT_ALGORITHMS: 'ES256',
    }),
    { logger },
  );
});

after(async () => {
  modelsHang?.release();
  await gateway?.stop();
  for (const subgraph of subgraphs.values()) await stopFronted(subgraph);
  jwks?.server.closeAllConnections();
  await new Promise((resolve) => jwks?.server.close(resolve));
  await bus?.close();
  await iso?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const MARKET_WITH_SENTIMENT = '{ market(pair: "BTC/USD") { pair base sentiment { meanScore count } } }';

describe('gateway: authentication and scopes', () => {
  it('serves a query across two subgraphs to a read key and forwards only its verified scopes', async () => {
    seenScopes.length = 0;
    // A client trying to grant itself admin through the internal header gets nowhere.
    const reply = await post(
      { query: MARKET_WITH_SENTIMENT },
      { 'x-api-key': keys.reader, 'x-tickcast-scopes': 'read,admin' },
    );
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, {
      data: { market: { pair: 'BTC/USD', base: 'BTC', sentiment: { meanScore: 0.25, count: 4 } } },
    });
    assert.deepEqual(seenScopes, ['read', 'read'], 'markets, then sentiment');
  });

  it('rejects a request without credentials, or with a wrong key, with 401 UNAUTHENTICATED', async () => {
    const callsBefore = forwarded;
    const anonymous = await post({ query: '{ markets { pair } }' });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(codes(anonymous), ['UNAUTHENTICATED']);
    assert.equal(anonymous.body.data, undefined);
    const wrong = await post({ query: '{ markets { pair } }' }, { 'x-api-key': `${keys.reader}x` });
    assert.equal(wrong.status, 401);
    assert.deepEqual(codes(wrong), ['UNAUTHENTICATED']);
    assert.equal(forwarded, callsBefore);
  });

  it("accepts a JWT signed by the identity provider's JWKS, and refuses one for another audience", async () => {
    seenScopes.length = 0;
    const ok = await post(
      { query: '{ markets { pair } }' },
      { authorization: `Bearer ${await jwks.sign({ sub: 'svc', scope: 'read' })}` },
    );
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.data, { markets: [{ pair: 'BTC/USD' }] });
    assert.deepEqual(seenScopes, ['read']);
    const foreign = await post(
      { query: '{ markets { pair } }' },
      { authorization: `Bearer ${await jwks.sign({ sub: 'svc', scope: 'read' }, 'other-api')}` },
    );
    assert.equal(foreign.status, 401);
    assert.deepEqual(codes(foreign), ['UNAUTHENTICATED']);
  });

  it('refuses setModelAlias to a read key with 403 FORBIDDEN before execution; an admin key may', async () => {
    const mutation =
      'mutation { setModelAlias(modelName: "tickcast-btc-usd-5m", alias: "champion", version: "1") { version aliases } }';
    const callsBefore = forwarded;
    const reader = await post({ query: mutation }, { 'x-api-key': keys.reader });
    assert.equal(reader.status, 403);
    assert.deepEqual(codes(reader), ['FORBIDDEN']);
    assert.equal(forwarded, callsBefore, 'the mutation did not reach the models subgraph');
    seenScopes.length = 0;
    const admin = await post({ query: mutation }, { 'x-api-key': keys.admin });
    assert.equal(admin.status, 200);
    assert.deepEqual(admin.body, { data: { setModelAlias: { version: '1', aliases: ['champion'] } } });
    assert.deepEqual(seenScopes, ['read,admin']);
    // The registry moved the alias: the champion is version 1 again.
    const registry = openRegistry({ dataDir });
    assert.equal((await registry.getVersionByAlias(MODEL, 'champion'))?.version, '1');
  });
});

describe('gateway: rate limiting', () => {
  it('answers 429 RATE_LIMITED with Retry-After once the key has used its burst, without touching other keys', async () => {
    const rejectedBefore = await rejected('rate_limited');
    let served = 0;
    let limited: Reply | undefined;
    for (let i = 0; i < BURST + 5 && !limited; i++) {
      const reply = await post({ query: '{ markets { pair } }' }, { 'x-api-key': keys.limited });
      if (reply.status === 200) served++;
      else limited = reply;
    }
    assert.equal(served, BURST);
    assert.ok(limited);
    assert.equal(limited.status, 429);
    assert.deepEqual(codes(limited), ['RATE_LIMITED']);
    // 0.05 tokens per second: the next one is about 20 s away.
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 19 && retryAfter <= 20, `retry-after ${retryAfter}`);
    assert.equal(limited.body.errors?.[0]?.extensions?.['retryAfterSeconds'], retryAfter);
    assert.equal(await rejected('rate_limited'), rejectedBefore + 1);
    const other = await post({ query: '{ markets { pair } }' }, { 'x-api-key': keys.reader });
    assert.equal(other.status, 200);
  });
});

describe('gateway: query limits, before execution', () => {
  const chain = (levels: number) =>
    `{ newsArticles { ${'signals { article { '.repeat(levels)}id${' } }'.repeat(levels)} } }`;
  const reader = () => ({ 'x-api-key': keys.reader });

  it('rejects a depth bomb, an alias bomb, a costly query and a token flood without calling a resolver', async () => {
    const callsBefore = forwarded;
    const before = {
      deep: await rejected('query_too_deep'),
      aliases: await rejected('too_many_aliases'),
      costly: await rejected('query_too_costly'),
      tokens: await rejected('too_many_tokens'),
    };

    const deep = await post({ query: chain(20) }, reader());
    assert.equal(deep.status, 400);
    assert.deepEqual(codes(deep), ['QUERY_TOO_DEEP']);
    assert.match(deep.body.errors?.[0]?.message ?? '', /depth 42 exceeds the limit of 10/);

    const aliases = Array.from({ length: 500 }, (_, i) => `a${i}: pair`).join(' ');
    const aliasBomb = await post({ query: `{ markets { ${aliases} } }` }, reader());
    assert.equal(aliasBomb.status, 400);
    assert.deepEqual(codes(aliasBomb), ['TOO_MANY_ALIASES']);

    const costly = await post(
      {
        query: 'query($n: Int) { market(pair: "BTC/USD") { candles(first: $n) { edges { node { close } } } } }',
        variables: { n: 100_000 },
      },
      reader(),
    );
    assert.equal(costly.status, 400);
    assert.deepEqual(codes(costly), ['QUERY_TOO_COSTLY']);

    // 3,100 tokens fit in the body limit but not in the parser's token limit (3,000).
    const flood = await post({ query: `{ markets { ${'pair '.repeat(3_100)}} }` }, reader());
    assert.equal(flood.status, 400);
    assert.deepEqual(codes(flood), ['GRAPHQL_PARSE_FAILED']);
    assert.match(flood.body.errors?.[0]?.message ?? '', /tokens/);

    assert.equal(forwarded, callsBefore, 'no subgraph was asked');
    assert.deepEqual(
      {
        deep: await rejected('query_too_deep'),
        aliases: await rejected('too_many_aliases'),
        costly: await rejected('query_too_costly'),
        tokens: await rejected('too_many_tokens'),
      },
      { deep: before.deep + 1, aliases: before.aliases + 1, costly: before.costly + 1, tokens: before.tokens + 1 },
    );

    // The count does move when a query is allowed through.
    const allowed = await post({ query: chain(2) }, reader());
    assert.equal(allowed.status, 200);
    assert.deepEqual(allowed.body.data, { newsArticles: [] });
    assert.ok(forwarded > callsBefore);
  });

  it('refuses an oversized body with 413 PAYLOAD_TOO_LARGE, with or without content-length', async () => {
    const callsBefore = forwarded;
    const rejectedBefore = await rejected('payload_too_large');
    const body = JSON.stringify({ query: `{ markets { pair } } # ${'x'.repeat(MAX_BODY_BYTES)}` });
    const declared = await post(body, reader());
    assert.equal(declared.status, 413);
    assert.deepEqual(codes(declared), ['PAYLOAD_TOO_LARGE']);
    const chunked = await postChunked(gateway.url, body.match(/.{1,4096}/gs) ?? [], reader());
    assert.equal(chunked.status, 413);
    assert.deepEqual(
      chunked.body.errors?.map((e) => e.extensions?.['code']),
      ['PAYLOAD_TOO_LARGE'],
    );
    assert.equal(await rejected('payload_too_large'), rejectedBefore + 2);
    assert.equal(forwarded, callsBefore);
    // Just under the limit is fine.
    const fits = await post(
      JSON.stringify({ query: `{ markets { pair } } # ${'x'.repeat(MAX_BODY_BYTES - 100)}` }),
      reader(),
    );
    assert.equal(fits.status, 200);
  });
});

describe('gateway: automatic persisted queries', () => {
  it('serves a hash-only request once the query is registered, still behind authentication', async () => {
    const query = '{ market(pair: "BTC/USD") { quote } }';
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const headers = { 'x-api-key': keys.reader };

    const unknown = await post({ extensions }, headers);
    assert.deepEqual(codes(unknown), ['PERSISTED_QUERY_NOT_FOUND']);
    const registered = await post({ query, extensions }, headers);
    assert.deepEqual(registered.body, { data: { market: { quote: 'USD' } } });

    const hashOnly = await post({ extensions }, headers);
    assert.deepEqual(hashOnly.body, { data: { market: { quote: 'USD' } } });
    const search = new URLSearchParams({ extensions: JSON.stringify(extensions) });
    const viaGet = await fetch(`${gateway.url}?${search}`, {
      headers: { ...headers, 'apollo-require-preflight': 'true' },
    });
    assert.deepEqual(await viaGet.json(), { data: { market: { quote: 'USD' } } });

    const anonymous = await post({ extensions });
    assert.equal(anonymous.status, 401);
  });
});

describe('gateway: HTTP surface', () => {
  it('answers /health, /ready, CORS preflights and serves Apollo Sandbox to browsers', async () => {
    const base = gateway.url.replace(/\/graphql$/, '');
    assert.equal((await fetch(`${base}/health`)).status, 200);
    assert.deepEqual(await (await fetch(`${base}/ready`)).json(), { status: 'ready' });
    const preflight = await fetch(gateway.url, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://dashboard.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-api-key',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'content-type,x-api-key');
    const page = await fetch(gateway.url, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /embeddable-sandbox/);
  });

  it('with GATEWAY_AUTH=disabled serves anyone, says so on every response, and is not ready once stopped', async () => {
    const open = await createGateway(await gatewayConfig({ GATEWAY_AUTH: 'disabled' }), { logger });
    try {
      assert.equal(open.authDisabled, true);
      assert.equal(open.ready(), true);
      const reply = await post({ query: '{ markets { pair } }' }, {}, { url: open.url });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('x-tickcast-auth'), 'disabled');
      assert.deepEqual(reply.body.data, { markets: [{ pair: 'BTC/USD' }] });
    } finally {
      await open.stop();
    }
    assert.equal(open.ready(), false);
    await assert.rejects(fetch(open.url), 'the port is closed');
  });

  it('composes the supergraph from the running subgraphs with GATEWAY_SUPERGRAPH=introspect (dev only)', async () => {
    const dev = await createGateway(
      await gatewayConfig({ GATEWAY_AUTH: 'disabled', GATEWAY_SUPERGRAPH: 'introspect' }),
      {
        logger,
      },
    );
    try {
      const reply = await post({ query: MARKET_WITH_SENTIMENT }, {}, { url: dev.url });
      assert.deepEqual(reply.body, {
        data: { market: { pair: 'BTC/USD', base: 'BTC', sentiment: { meanScore: 0.25, count: 4 } } },
      });
    } finally {
      await dev.stop();
    }
  });
});

/**
 * The gateway's answer to an unexpected predictions error: masked, naming the subgraph, with
 * an incident id; the path when the subgraph gave one (the real subgraphs' masked internal
 * errors carry none, subgraphs/server.ts).
 */
function assertMaskedInternalError(reply: Reply, path?: string[]): void {
  const text = JSON.stringify(reply.body);
  assert.ok(!text.includes('stacktrace'), text);
  const incidentId = (reply.body.errors?.[0] as { extensions?: { incidentId?: unknown } })?.extensions?.incidentId;
  assert.match(String(incidentId), /^[0-9a-f]{16}$/, 'an id to find the logged details by');
  assert.deepEqual(reply.body, {
    data: null,
    errors: [
      {
        message: 'Internal error in subgraph "predictions"',
        ...(path ? { path } : {}),
        extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'predictions', incidentId },
      },
    ],
  });
}

describe('gateway: errors', () => {
  it("masks a subgraph's unexpected error but names the subgraph; passes deliberate errors", async () => {
    const headers = { 'x-api-key': keys.reader };
    // A real fault: the predictions store without its model_performance table.
    await iso.pool.query('ALTER TABLE model_performance RENAME TO model_performance_gone');
    let failed: Reply;
    try {
      failed = await post({ query: '{ modelPerformance { mae } }' }, headers);
    } finally {
      await iso.pool.query('ALTER TABLE model_performance_gone RENAME TO model_performance');
    }
    assertMaskedInternalError(failed);
    // The real subgraphs mask their own errors, so a careless subgraph that leaks one is the
    // one fault stubbed here: the pass-through answers for predictions as such a subgraph would.
    predictionsLeak = {
      data: { modelPerformance: null },
      errors: [
        {
          message: 'pg: password authentication failed for user "tickcast" (password=hunter2)',
          path: ['modelPerformance'],
          extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['Error: pg: at Client.connect'] },
        },
      ],
    };
    let leaked: Reply;
    try {
      leaked = await post({ query: '{ modelPerformance { mae } }' }, headers);
    } finally {
      predictionsLeak = undefined;
    }
    const text = JSON.stringify(leaked.body);
    assert.ok(!text.includes('hunter2') && !text.includes('pg:'), text);
    assertMaskedInternalError(leaked, ['modelPerformance']);

    // A deliberate error of the real models subgraph reaches the client as it was raised.
    const deliberate = await post(
      {
        query:
          'mutation { setModelAlias(modelName: "tickcast-btc-usd-5m", alias: "champion", version: "9") { version } }',
      },
      { 'x-api-key': keys.admin },
    );
    assert.deepEqual(deliberate.body, {
      data: null,
      errors: [
        {
          message: 'model tickcast-btc-usd-5m has no version 9',
          path: ['setModelAlias'],
          extensions: { code: 'NOT_FOUND', serviceName: 'models' },
        },
      ],
    });
  });

  it('gives up on a slow subgraph at its own timeout and returns what the others answered', async () => {
    let release = () => {};
    modelsHang = { promise: new Promise<void>((resolve) => (release = resolve)), release: () => release() };
    const started = performance.now();
    let reply: Reply;
    try {
      reply = await post(
        { query: '{ market(pair: "BTC/USD") { pair } model(name: "tickcast-btc-usd-5m") { name } }' },
        { 'x-api-key': keys.reader },
        { timeoutMs: 4_000 },
      );
    } finally {
      modelsHang.release();
      modelsHang = undefined;
    }
    const elapsed = performance.now() - started;
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.data, { market: { pair: 'BTC/USD' }, model: null });
    assert.deepEqual(reply.body.errors?.[0]?.extensions, {
      serviceName: 'models',
      reason: 'timeout',
      code: 'SUBGRAPH_UNAVAILABLE',
    });
    assert.match(reply.body.errors?.[0]?.message ?? '', /"models" did not answer within 500 ms/);
    assert.ok(elapsed >= MODELS_TIMEOUT_MS && elapsed < 4_000, `${elapsed} ms`);
  });

  it('returns partial data and an error naming a subgraph killed mid-test', async () => {
    const partialBefore = await metricValue('tickcast_gateway_requests_total', { outcome: 'partial' });
    const sentiment = subgraphs.get('sentiment');
    assert.ok(sentiment);
    const alive = await post({ query: MARKET_WITH_SENTIMENT }, { 'x-api-key': keys.reader });
    assert.equal(alive.body.errors, undefined);
    // The sentiment process dies: its port refuses connections.
    await stopFronted(sentiment);

    const reply = await post({ query: MARKET_WITH_SENTIMENT }, { 'x-api-key': keys.reader });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.data, { market: { pair: 'BTC/USD', base: 'BTC', sentiment: null } });
    assert.deepEqual(reply.body.errors, [
      {
        message: 'subgraph "sentiment" is unavailable',
        path: ['market', 'sentiment'],
        extensions: { serviceName: 'sentiment', reason: 'unreachable', code: 'SUBGRAPH_UNAVAILABLE' },
      },
    ]);
    assert.equal(await metricValue('tickcast_gateway_requests_total', { outcome: 'partial' }), partialBefore + 1);
    assert.equal(
      await metricValue('tickcast_gateway_subgraph_errors_total', { subgraph: 'sentiment', reason: 'unreachable' }),
      1,
    );
  });
});
