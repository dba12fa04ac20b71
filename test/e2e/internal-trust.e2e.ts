/**
 * The internal network trusts nothing: the real models subgraph (on the real MLflow)
 * reached directly, as anything on the cluster network could, believes only the caller
 * claims the gateway signed. Forged scope headers and connection params, tampered bodies,
 * stale or wrongly keyed signatures all get public scope (and are counted); the gateway's
 * own signed requests work, with the previous secret during a rotation too. Errors come
 * back without stack traces, internal messages or schema suggestions, and the subgraph
 * binds 127.0.0.1 unless told otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { generateApiKey } from '../../gateway/auth.ts';
import { gatewayConfigFromEnv } from '../../gateway/config.ts';
import { createGateway, type RunningGateway } from '../../gateway/server.ts';
import { UpstreamConnections } from '../../gateway/subscriptions/upstream.ts';
import { loadConfig } from '../../lib/config.ts';
import { SCOPES_HEADER, signConnectionParams, signHttpRequest, type Claims } from '../../lib/internal-signature.ts';
import { metricValue } from '../../lib/metrics.ts';
import { uniqueName } from '../../registry/contract.ts';
import { MlflowRegistry } from '../../registry/mlflow.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { modelsSubgraph } from '../../subgraphs/models/index.ts';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { nonLoopbackAddress } from '../support/ports.ts';
import { testLogger } from '../support/services.ts';

interface GraphQLError {
  message: string;
  extensions?: Record<string, unknown>;
}
interface GraphQLResponse {
  data?: Record<string, unknown> | null;
  errors?: GraphQLError[];
}

const CURRENT = randomBytes(32).toString('hex');
const PREVIOUS = randomBytes(32).toString('hex');
const SET_ALIAS = `mutation ($model: ID!, $version: String!) {
  setModelAlias(modelName: $model, alias: "champion", version: $version) { version }
}`;
const admin: Claims = { principal: 'ops', scopes: ['read', 'admin'], requestId: 'trust-test' };
const ignored = (transport: string, reason: string) =>
  metricValue('tickcast_subgraph_unsigned_requests_total', { subgraph: 'models', transport, reason });

function trackingUri(): string {
  const uri = process.env['MLFLOW_TRACKING_URI'];
  assert.ok(uri, 'MLFLOW_TRACKING_URI: run with the real services (eval "$(scripts/services env)")');
  return uri.replace(/\/+$/, '');
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as GraphQLResponse };
}

/** One operation over its own graphql-ws connection with these connection_init params. */
async function overWebSocket(
  url: string,
  params: Record<string, unknown> | undefined,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse> {
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    ...(params ? { connectionParams: params } : {}),
  });
  try {
    return await new Promise<GraphQLResponse>((resolve, reject) => {
      let result: GraphQLResponse = {};
      client.subscribe<Record<string, unknown>>(
        { query, variables },
        {
          next: (value) => (result = value as GraphQLResponse),
          // Errors before execution (validation) arrive as an `error` message: an array of errors.
          error: (error) =>
            Array.isArray(error) ? resolve({ errors: error as GraphQLError[] }) : reject(error as Error),
          complete: () => resolve(result),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

const codes = (response: GraphQLResponse) => response.errors?.map((e) => e.extensions?.['code']) ?? [];

describe('the internal network trusts nothing', () => {
  const mlflow = new MlflowRegistry({ trackingUri: trackingUri() });
  const model = uniqueName('trust-btc-usd-5m');
  const pool = new pg.Pool(); // handed to createLoaders; the models subgraph never uses it
  const running: RunningSubgraph[] = [];
  let url: string;
  let gateway: RunningGateway | undefined;
  const keys = { admin: '', reader: '' };

  const champion = async () => (await mlflow.getVersionByAlias(model, 'champion'))?.version;
  const body = (version: string) => JSON.stringify({ query: SET_ALIAS, variables: { model, version } });
  // A fresh request id each time, as the gateway does: the same claims, body and second would sign alike (a replay).
  const signed = (text: string, secret = CURRENT, claims = admin, nowMs = Date.now()) =>
    signHttpRequest(
      secret,
      { method: 'POST', path: '/graphql', body: text },
      { ...claims, requestId: randomUUID() },
      nowMs,
    );

  before(async () => {
    const experiment = await mlflow.ensureExperiment(uniqueName('trust'));
    const run = await mlflow.createRun(experiment.id, { name: 'trust' });
    await mlflow.finishRun(run.runId);
    await mlflow.createRegisteredModel(model);
    for (let i = 0; i < 4; i++) await mlflow.createVersion(model, run.runId, 'model');
    await mlflow.setAlias(model, 'champion', '1');

    const subgraph = await startSubgraph(modelsSubgraph(mlflow, { logger: testLogger }), {
      bus: new MemoryBus(),
      pool,
      logger: testLogger,
      port: 0,
      // no host: the default under test
      internalSecrets: [CURRENT, PREVIOUS],
    });
    running.push(subgraph);
    url = subgraph.url;

    const entries: string[] = [];
    for (const [id, scopes] of [
      ['admin', ['read', 'admin']],
      ['reader', ['read']],
    ] as const) {
      const generated = await generateApiKey(id, scopes);
      keys[id] = generated.key;
      entries.push(generated.entry);
    }
    gateway = await createGateway(
      await gatewayConfigFromEnv(
        loadConfig({
          GATEWAY_PORT: '0',
          GATEWAY_API_KEYS: entries.join(','),
          SUBGRAPH_MODELS_URL: url,
          TICKCAST_INTERNAL_SECRET: CURRENT,
        }),
      ),
      { logger: testLogger },
    );
  });

  after(async () => {
    await gateway?.stop();
    for (const subgraph of running) await subgraph.stop();
    await pool.end();
  });

  it('binds the subgraph to 127.0.0.1 by default', async () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const external = nonLoopbackAddress();
    if (external) {
      const port = new URL(url).port;
      await assert.rejects(fetch(`http://${external}:${port}/graphql`), `subgraph reachable on ${external}`);
    }
  });

  it('ignores a forged x-tickcast-scopes header over HTTP, and counts it', async () => {
    const before = await ignored('http', 'unsigned');
    const response = await post(url, body('2'), { [SCOPES_HEADER]: 'read,admin', 'x-tickcast-principal': 'ops' });
    assert.deepEqual(codes(response.body), ['FORBIDDEN']);
    assert.equal(await champion(), '1');
    assert.equal(await ignored('http', 'unsigned'), before + 1);
  });

  it('ignores a tampered body, a stale signature and one made with an unknown secret', async () => {
    const forgedBefore = await ignored('http', 'forged');
    const staleBefore = await ignored('http', 'stale');
    // Signed for version 2, sent for version 3.
    assert.deepEqual(codes((await post(url, body('3'), signed(body('2')))).body), ['FORBIDDEN']);
    // Scopes widened after signing.
    const readOnly = signed(body('3'), CURRENT, { ...admin, scopes: ['read'] });
    assert.deepEqual(codes((await post(url, body('3'), { ...readOnly, [SCOPES_HEADER]: 'read,admin' })).body), [
      'FORBIDDEN',
    ]);
    assert.deepEqual(codes((await post(url, body('3'), signed(body('3'), randomBytes(32).toString('hex')))).body), [
      'FORBIDDEN',
    ]);
    const twoMinutesAgo = Date.now() - 120_000;
    assert.deepEqual(codes((await post(url, body('3'), signed(body('3'), CURRENT, admin, twoMinutesAgo))).body), [
      'FORBIDDEN',
    ]);
    assert.equal(await champion(), '1');
    assert.equal(await ignored('http', 'forged'), forgedBefore + 3);
    assert.equal(await ignored('http', 'stale'), staleBefore + 1);
  });

  it('ignores forged and badly signed graphql-ws connection params', async () => {
    const before = await ignored('ws', 'unsigned');
    const variables = { model, version: '2' };
    assert.deepEqual(codes(await overWebSocket(url, { scopes: 'read,admin' }, SET_ALIAS, variables)), ['FORBIDDEN']);
    assert.equal(await ignored('ws', 'unsigned'), before + 1);
    const wrongKey = signConnectionParams(randomBytes(32).toString('hex'), admin);
    assert.deepEqual(codes(await overWebSocket(url, wrongKey, SET_ALIAS, variables)), ['FORBIDDEN']);
    const widened = { ...signConnectionParams(CURRENT, { ...admin, scopes: ['read'] }), scopes: 'read,admin' };
    assert.deepEqual(codes(await overWebSocket(url, widened, SET_ALIAS, variables)), ['FORBIDDEN']);
    const stale = signConnectionParams(CURRENT, admin, Date.now() - 120_000);
    assert.deepEqual(codes(await overWebSocket(url, stale, SET_ALIAS, variables)), ['FORBIDDEN']);
    assert.equal(await champion(), '1');
  });

  it('believes what the current or the previous secret signed, over HTTP and graphql-ws', async () => {
    assert.equal(codes((await post(url, body('2'), signed(body('2')))).body).length, 0);
    assert.equal(await champion(), '2');
    assert.equal(codes((await post(url, body('3'), signed(body('3'), PREVIOUS))).body).length, 0);
    assert.equal(await champion(), '3');
    const variables = { model, version: '4' };
    const response = await overWebSocket(url, signConnectionParams(PREVIOUS, admin), SET_ALIAS, variables);
    assert.deepEqual(response, { data: { setModelAlias: { version: '4' } } });
    assert.equal(await champion(), '4');
  });

  it('refuses a signed request or connection_init used a second time (a replay within the skew window)', async () => {
    const before = { http: await ignored('http', 'replayed'), ws: await ignored('ws', 'replayed') };
    const headers = signed(body('2'));
    assert.equal(codes((await post(url, body('2'), headers)).body).length, 0);
    assert.equal(await champion(), '2');
    await mlflow.setAlias(model, 'champion', '4');
    assert.deepEqual(codes((await post(url, body('2'), headers)).body), ['FORBIDDEN']);
    assert.equal(await champion(), '4');
    const params = signConnectionParams(CURRENT, admin);
    const variables = { model, version: '3' };
    assert.deepEqual(await overWebSocket(url, params, SET_ALIAS, variables), {
      data: { setModelAlias: { version: '3' } },
    });
    await mlflow.setAlias(model, 'champion', '4');
    assert.deepEqual(codes(await overWebSocket(url, params, SET_ALIAS, variables)), ['FORBIDDEN']);
    assert.equal(await champion(), '4');
    assert.deepEqual(
      { http: await ignored('http', 'replayed'), ws: await ignored('ws', 'replayed') },
      { http: before.http + 1, ws: before.ws + 1 },
    );
  });

  it("serves the gateway's signed requests: an admin key sets the alias, a read key cannot", async () => {
    assert.ok(gateway);
    const viaGateway = (key: string, version: string) =>
      post(gateway?.url ?? '', JSON.stringify({ query: SET_ALIAS, variables: { model, version } }), {
        'x-api-key': key,
      });
    const unsignedBefore = await ignored('http', 'unsigned');
    assert.deepEqual(codes((await viaGateway(keys.reader, '1')).body), ['FORBIDDEN']);
    assert.equal(await champion(), '4');
    const response = await viaGateway(keys.admin, '1');
    assert.deepEqual(response.body, { data: { setModelAlias: { version: '1' } } });
    assert.equal(await champion(), '1');
    assert.equal(await ignored('http', 'unsigned'), unsignedBefore, 'the gateway signed every request');
  });

  it("signs the gateway's graphql-ws connections to the subgraphs", async () => {
    /** Runs `{ __typename }` through the gateway's upstream connection signed with `secret`. */
    const typename = async (secret: string) => {
      const upstream = new UpstreamConnections({
        urls: { models: url },
        signingSecrets: { models: secret },
        graceMs: 5_000,
        maxBackoffMs: 1_000,
        logger: testLogger,
        onUnavailable: () => undefined,
        onRecovered: () => undefined,
      });
      try {
        return await new Promise<unknown>((resolve, reject) => {
          let value: unknown;
          upstream.subscribe(
            { subgraph: 'models', query: '{ __typename }', variables: {} },
            { next: (v) => (value = v), error: reject, complete: () => resolve(value) },
          );
        });
      } finally {
        upstream.dispose();
      }
    };
    const unsignedBefore = await ignored('ws', 'unsigned');
    const forgedBefore = await ignored('ws', 'forged');
    // A key the subgraph does not know shows that a signature was sent, and checked.
    assert.deepEqual(await typename(randomBytes(32).toString('hex')), { data: { __typename: 'Query' } });
    assert.equal(await ignored('ws', 'forged'), forgedBefore + 1);
    assert.deepEqual(await typename(CURRENT), { data: { __typename: 'Query' } });
    assert.equal(await ignored('ws', 'forged'), forgedBefore + 1);
    assert.equal(await ignored('ws', 'unsigned'), unsignedBefore);
  });

  it('answers without stack traces, internal messages or schema suggestions, over HTTP and graphql-ws', async () => {
    const typo = '{ modls { name } }';
    const http = await post(url, JSON.stringify({ query: typo }));
    const ws = await overWebSocket(url, undefined, typo);
    for (const response of [http.body, ws]) {
      assert.ok(response.errors?.length, JSON.stringify(response));
      const text = JSON.stringify(response);
      assert.doesNotMatch(text, /stacktrace|Did you mean|"models"/, text);
    }
    const malformed = await post(url, '{"query": "{ models { name } }"');
    assert.equal(malformed.status, 400);
    assert.deepEqual(malformed.body, { errors: [{ message: 'Request body is not valid JSON' }] });
    const introspection = await post(url, JSON.stringify({ query: '{ __schema { types { name } } }' }));
    assert.ok(introspection.body.errors?.length, 'introspection is off on subgraphs');
    assert.doesNotMatch(JSON.stringify(introspection.body), /stacktrace/);
  });
});
