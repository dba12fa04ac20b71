/**
 * graphql-http's GraphQL-over-HTTP conformance audit (`auditServer`) against the gateway
 * with the real subgraphs over the real PostgreSQL. No audit may fail; the warnings that
 * remain are listed in EXPECTED_WARNINGS with why (README, "Security model").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { auditServer, type AuditResult } from 'graphql-http';
import { startApi, type RunningApi } from '../../cli/api.ts';
import { generateApiKey } from '../../gateway/auth.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { isolate, testLogger, type Isolation } from '../support/services.ts';

/**
 * Warnings we keep on purpose, by audit id, each explained in README's "Security model".
 * An empty list would be wrong only if the spec's recommendation conflicted with a check we need.
 */
const EXPECTED_WARNINGS: Readonly<Record<string, string>> = {
  // The spec's legacy `accept: application/json` mode suggests 200 for requests refused before
  // execution; the gateway answers every client mistake with a 4xx (as it must for
  // application/graphql-response+json), so monitoring and caches see it as the client's error.
  '572B': 'document parsing failure answers 400, not 200, under accept: application/json',
  FDE2: 'document validation failure answers 400, not 200, under accept: application/json',
  '7B9B': 'variable coercion failure answers 400, not 200, under accept: application/json',
};

describe('GraphQL over HTTP conformance (graphql-http auditServer)', () => {
  let iso: Isolation;
  let api: RunningApi;
  const bus = new MemoryBus();
  const reader = generateApiKey('audit', ['read']);
  let results: AuditResult[];

  before(async () => {
    iso = await isolate('audit', {
      PAIRS: 'BTC/USD',
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_API_KEYS: reader.entry,
      GATEWAY_RATE_LIMIT_PER_SECOND: '1000',
      GATEWAY_RATE_LIMIT_BURST: '1000',
    });
    api = await startApi(iso.config, { pool: iso.pool, bus, logger: testLogger });
    // The audit's requests carry the key as any client's would.
    const fetchFn = (input: string | URL | Request, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set('x-api-key', reader.key);
      return fetch(input, { ...init, headers });
    };
    results = await auditServer({ url: api.gateway.url, fetchFn });
  });

  after(async () => {
    await api?.gateway.stop();
    for (const subgraph of api?.subgraphs ?? []) await subgraph.stop();
    await bus.close();
    await iso?.close();
  });

  it('passes every audit', async () => {
    assert.ok(results.length > 30, `the audit ran (${results.length} audits)`);
    const failures = results.filter((r) => r.status === 'error');
    const details = await Promise.all(
      failures.map(
        async (f) =>
          `${f.id} ${f.name}: ${'reason' in f ? f.reason : ''} ${'response' in f ? await f.response.text() : ''}`,
      ),
    );
    assert.deepEqual(details, []);
  });

  it('leaves only the warnings README explains', () => {
    const warnings = results
      .filter((r) => r.status === 'warn')
      .map((r) => `${r.id} ${r.name}: ${'reason' in r ? r.reason : ''}`);
    assert.deepEqual(
      results
        .filter((r) => r.status === 'warn')
        .map((r) => r.id)
        .sort(),
      Object.keys(EXPECTED_WARNINGS).sort(),
      warnings.join('\n'),
    );
  });
});
