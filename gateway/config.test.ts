import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../lib/config.ts';
import { SUBGRAPHS, SUPERGRAPH_PATH } from '../schema/subgraphs.ts';
import { gatewayConfigFromEnv } from './config.ts';
import { loadConfig } from '../lib/config.ts';

const KEY = `ci:sha256:${'a'.repeat(64)}:read`;
const fromEnv = (env: Record<string, string>) => gatewayConfigFromEnv(loadConfig(env));

describe('gateway configuration', () => {
  it('has safe defaults: auth on, static supergraph, limits, no Apollo Studio', async () => {
    const config = await fromEnv({ GATEWAY_API_KEYS: KEY });
    assert.equal(config.auth.mode, 'enabled');
    assert.deepEqual(config.supergraph, { kind: 'static', path: SUPERGRAPH_PATH });
    assert.deepEqual(config.limits, {
      maxDepth: 10,
      maxAliases: 30,
      maxCost: 5_000,
      defaultListSize: 10,
      maxTokens: 3_000,
      maxBodyBytes: 102_400,
    });
    assert.deepEqual(config.subgraphs.markets, { url: 'http://127.0.0.1:4001/graphql', timeoutMs: 5_000 });
    assert.equal(config.apollo, undefined);
    assert.deepEqual(config.persistedQueries, { ttlSeconds: 86_400 });
  });

  it('disables auth only when told to', async () => {
    assert.deepEqual((await fromEnv({ GATEWAY_AUTH: 'disabled' })).auth, { mode: 'disabled' });
    assert.throws(() => loadConfig({ GATEWAY_AUTH: 'off' }));
  });

  it('reads API keys from the variable and from a JSON file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gateway-keys-'));
    const file = join(dir, 'keys.json');
    await writeFile(file, JSON.stringify([{ id: 'ops', hash: `sha256:${'b'.repeat(64)}`, scopes: ['read', 'admin'] }]));
    const config = await fromEnv({ GATEWAY_API_KEYS: KEY, GATEWAY_API_KEYS_FILE: file });
    assert.ok(config.auth.mode === 'enabled');
    assert.deepEqual(
      config.auth.apiKeys.map((k) => k.id),
      ['ci', 'ops'],
    );
    await writeFile(file, JSON.stringify([{ id: 'ops', hash: 'plain-text-key', scopes: ['read'] }]));
    await assert.rejects(fromEnv({ GATEWAY_API_KEYS_FILE: file }), ConfigError);
  });

  it('needs issuer and audience with a JWKS URL', async () => {
    await assert.rejects(fromEnv({ GATEWAY_JWKS_URL: 'https://idp.test/jwks' }), /GATEWAY_JWT_ISSUER/);
    const config = await fromEnv({
      GATEWAY_JWKS_URL: 'https://idp.test/jwks',
      GATEWAY_JWT_ISSUER: 'https://idp.test/',
      GATEWAY_JWT_AUDIENCE: 'tickcast',
    });
    assert.ok(config.auth.mode === 'enabled');
    assert.deepEqual(config.auth.jwt?.algorithms, ['RS256', 'ES256']);
  });

  it('takes subgraph URLs and per-subgraph timeouts', async () => {
    const config = await fromEnv({
      GATEWAY_AUTH: 'disabled',
      SUBGRAPH_MODELS_URL: 'http://models:8080/graphql',
      GATEWAY_SUBGRAPH_TIMEOUT_MS: '2000',
      GATEWAY_SUBGRAPH_TIMEOUTS: 'models=10000',
    });
    assert.deepEqual(config.subgraphs.models, { url: 'http://models:8080/graphql', timeoutMs: 10_000 });
    assert.equal(config.subgraphs.markets.timeoutMs, 2_000);
    assert.throws(() => loadConfig({ GATEWAY_SUBGRAPH_TIMEOUTS: 'nosuch=1' }));
  });

  it('reports to Apollo Studio only with both APOLLO_KEY and APOLLO_GRAPH_REF', async () => {
    const base = { GATEWAY_AUTH: 'disabled' };
    assert.equal((await fromEnv({ ...base, APOLLO_KEY: 'service:x:y' })).apollo, undefined);
    assert.equal((await fromEnv({ ...base, APOLLO_GRAPH_REF: 'tickcast@prod' })).apollo, undefined);
    assert.deepEqual(
      (await fromEnv({ ...base, APOLLO_KEY: 'service:x:y', APOLLO_GRAPH_REF: 'tickcast@prod' })).apollo,
      {
        key: 'service:x:y',
        graphRef: 'tickcast@prod',
      },
    );
  });

  it('signs subgraph requests with the first internal secret, and binds to loopback by default', async () => {
    const [current, previous] = ['c'.repeat(32), 'p'.repeat(32)];
    const config = await fromEnv({ GATEWAY_API_KEYS: KEY, TICKCAST_INTERNAL_SECRET: `${current},${previous}` });
    for (const name of SUBGRAPHS) assert.equal(config.subgraphs[name].signingSecret, current);
    assert.equal(config.host, '127.0.0.1');
  });

  it('keeps limits per replica unless told to share them through DATABASE_URL', async () => {
    const url = 'postgres://tickcast@db:5432/tickcast';
    assert.deepEqual((await fromEnv({ GATEWAY_API_KEYS: KEY, DATABASE_URL: url })).limitsStore, { kind: 'memory' });
    await assert.rejects(
      fromEnv({ GATEWAY_API_KEYS: KEY, GATEWAY_LIMITS_STORE: 'postgres' }),
      /GATEWAY_LIMITS_STORE=postgres needs DATABASE_URL/,
    );
    assert.deepEqual(
      (await fromEnv({ GATEWAY_API_KEYS: KEY, GATEWAY_LIMITS_STORE: 'postgres', DATABASE_URL: url })).limitsStore,
      { kind: 'postgres', url, timeoutMs: 1_000, retryMs: 5_000, poolSize: 4, leaseTtlMs: 30_000 },
    );
    assert.throws(() => loadConfig({ GATEWAY_LIMITS_STORE: 'redis' }));
  });

  it('names a bad API keys file without repeating its contents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gateway-keys-'));
    const file = join(dir, 'keys.json');
    await writeFile(file, JSON.stringify([{ id: 'ops', hash: 'plain-text-key', scopes: ['read'] }]));
    await assert.rejects(fromEnv({ GATEWAY_API_KEYS_FILE: file }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /GATEWAY_API_KEYS_FILE: /);
      assert.doesNotMatch(error.message, /plain-text-key|keys\.json/);
      return true;
    });
  });
});
