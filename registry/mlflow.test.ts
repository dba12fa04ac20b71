/**
 * The MLflow client's side of the wire against a local fake server: how failures become
 * errors, and what requests it sends. Behaviour against the real server: the contract suite
 * in test/e2e/registry-mlflow.e2e.ts.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../test/support/ports.ts';
import { MlflowRegistry } from './mlflow.ts';
import { RegistryError } from './registry.ts';

interface Seen {
  method: string;
  url: string;
  body: string;
}

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

const isError =
  (code: string, retriable: boolean, pattern: RegExp, registryCode: string | null = null) =>
  (error: unknown): boolean => {
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.retriable, retriable);
    assert.equal(error.registryCode, registryCode);
    assert.match(error.message, pattern);
    return true;
  };

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
};

const RUN = {
  info: {
    run_id: 'r1',
    experiment_id: '3',
    status: 'RUNNING',
    start_time: 1,
    artifact_uri: 'mlflow-artifacts:/3/r1/artifacts',
  },
};

describe('MLflow client (fake server)', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  let seen: Seen[];

  before(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: request.method ?? '', url: request.url ?? '', body });
        handler(request, response, body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    seen = [];
    handler = (_request, response) => json(response, 200, {});
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reports a server that cannot be reached as retriable UPSTREAM_UNAVAILABLE', async () => {
    const port = await freePort();
    const registry = new MlflowRegistry({ trackingUri: `http://127.0.0.1:${port}` });
    await assert.rejects(
      registry.getModel('m'),
      isError('UPSTREAM_UNAVAILABLE', true, /cannot be reached .*ECONNREFUSED/),
    );
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    handler = () => undefined; // never answers
    const registry = new MlflowRegistry({ trackingUri: base, timeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(
      registry.listModels(),
      isError('UPSTREAM_UNAVAILABLE', true, /did not answer search-models within 200 ms/),
    );
    assert.ok(Date.now() - started < 5_000);
    server.closeAllConnections();
  });

  it('maps 5xx to UPSTREAM_UNAVAILABLE, 429 to RATE_LIMITED, 4xx to UPSTREAM_REJECTED with MLflow’s code', async () => {
    const registry = new MlflowRegistry({ trackingUri: `${base}/` });
    handler = (_q, response) => json(response, 503, { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'db locked' });
    await assert.rejects(registry.getModel('m'), (e: unknown) => {
      assert.ok(e instanceof RegistryError && e.status === 503);
      return isError('UPSTREAM_UNAVAILABLE', true, /HTTP 503.*db locked/)(e);
    });
    handler = (_q, response) => json(response, 429, {});
    await assert.rejects(registry.getModel('m'), isError('RATE_LIMITED', true, /429/));
    handler = (_q, response) =>
      json(response, 400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Invalid alias name' });
    await assert.rejects(
      registry.setAlias('m', 'champion', '1'),
      isError('UPSTREAM_REJECTED', false, /set-alias .*Invalid alias name/, 'INVALID_PARAMETER_VALUE'),
    );
    // a 404 that is not MLflow's "does not exist" (e.g. a wrong base URL) is an error, not "no such model"
    handler = (_q, response) => {
      response.writeHead(404, { 'content-type': 'text/html' });
      response.end('<h1>Not Found</h1>');
    };
    await assert.rejects(registry.getModel('m'), isError('UPSTREAM_REJECTED', false, /HTTP 404/, 'HTTP_404'));
    handler = (_q, response) => json(response, 404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no' });
    assert.equal(await registry.getModel('m'), null);
  });

  it('refuses responses of an unexpected shape', async () => {
    const registry = new MlflowRegistry({ trackingUri: base });
    handler = (_q, response) => json(response, 200, { registered_model: { name: 7 } });
    await assert.rejects(
      registry.getModel('m'),
      isError('UPSTREAM_REJECTED', false, /unexpected shape/, 'INVALID_RESPONSE'),
    );
    handler = (_q, response) => {
      response.writeHead(200);
      response.end('<html>');
    };
    await assert.rejects(registry.getModel('m'), isError('UPSTREAM_REJECTED', false, /non-JSON/, 'INVALID_RESPONSE'));
  });

  it('splits metrics and params into MLflow’s batch limits and writes non-finite values as MLflow does', async () => {
    const registry = new MlflowRegistry({ trackingUri: base });
    const metrics = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`m${i}`, i]));
    await registry.logMetrics('r1', { ...metrics, nan: Number.NaN, up: Infinity, down: -Infinity }, { step: 3 });
    const batches = seen.map(
      (s) => JSON.parse(s.body) as { run_id: string; metrics: { key: string; value: unknown; step: number }[] },
    );
    assert.deepEqual(
      batches.map((b) => b.metrics.length),
      [1000, 1000, 503],
    );
    assert.ok(seen.every((s) => s.method === 'POST' && s.url === '/api/2.0/mlflow/runs/log-batch'));
    assert.ok(batches.every((b) => b.run_id === 'r1' && b.metrics.every((m) => m.step === 3)));
    assert.deepEqual(
      batches[2]?.metrics.slice(-3).map((m) => [m.key, m.value]),
      [
        ['nan', 'NaN'],
        ['up', 'Infinity'],
        ['down', '-Infinity'],
      ],
    );

    seen = [];
    await registry.logParams('r1', Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${i}`, i])));
    assert.deepEqual(
      seen.map((s) => (JSON.parse(s.body) as { params: unknown[] }).params.length),
      [100, 100, 50],
    );
  });

  it('deletes an alias with a JSON body, as MLflow 3 reads DELETE parameters', async () => {
    const registry = new MlflowRegistry({ trackingUri: base });
    await registry.deleteAlias('m', 'champion');
    assert.deepEqual(seen, [
      { method: 'DELETE', url: '/api/2.0/mlflow/registered-models/alias', body: '{"name":"m","alias":"champion"}' },
    ]);
  });

  it('puts and gets artifacts through the artifact proxy, and refuses runs whose artifacts it cannot reach', async () => {
    const registry = new MlflowRegistry({ trackingUri: base });
    handler = (request, response) => {
      if (request.url?.startsWith('/api/2.0/mlflow/runs/get')) return json(response, 200, { run: RUN });
      if (request.method === 'GET') {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        return response.end(Buffer.from([1, 2]));
      }
      return json(response, 200, {});
    };
    await registry.uploadArtifact('r1', 'model/a b+c.bin', new Uint8Array([1, 2]));
    assert.deepEqual(await registry.downloadArtifact('r1', 'model/a b+c.bin'), new Uint8Array([1, 2]));
    assert.deepEqual(
      seen.map((s) => [s.method, s.url]),
      [
        ['GET', '/api/2.0/mlflow/runs/get?run_id=r1'],
        ['PUT', '/api/2.0/mlflow-artifacts/artifacts/3/r1/artifacts/model/a%20b%2Bc.bin'],
        ['GET', '/api/2.0/mlflow-artifacts/artifacts/3/r1/artifacts/model/a%20b%2Bc.bin'],
      ],
    );

    handler = (_q, response) =>
      json(response, 200, { run: { info: { ...RUN.info, run_id: 'r2', artifact_uri: 's3://bucket/3/r2/artifacts' } } });
    await assert.rejects(
      registry.uploadArtifact('r2', 'model/x', new Uint8Array([1])),
      isError('UPSTREAM_REJECTED', false, /--serve-artifacts/, 'UNSUPPORTED_ARTIFACT_STORE'),
    );
  });

  it('refuses a tracking URI that is not http(s)', () => {
    assert.throws(
      () => new MlflowRegistry({ trackingUri: 'file:///tmp/mlruns' }),
      (e: unknown) => e instanceof RegistryError && e.code === 'CONFIG_INVALID',
    );
  });
});
