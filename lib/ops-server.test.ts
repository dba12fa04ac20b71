import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nonLoopbackAddress } from '../test/support/ports.ts';
import { loadConfig } from './config.ts';
import { dependencies } from './dependencies.ts';
import { opsServerOptions, startOpsServer, type OpsServer } from './ops-server.ts';

describe('ops server', () => {
  const servers: OpsServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  it('binds 127.0.0.1 by default', async () => {
    const options = opsServerOptions(loadConfig({ METRICS_PORT: '0' }));
    assert.equal(options.host, '127.0.0.1');
    const server = await startOpsServer(options, () => true);
    servers.push(server);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/health`)).status, 200);
    const external = nonLoopbackAddress();
    if (external) await assert.rejects(fetch(`http://${external}:${server.port}/health`), `reachable on ${external}`);
  });

  it('with a token, serves /metrics only to its bearer; /health and /ready stay open', async () => {
    const token = 'scrape-token-0123456789';
    const server = await startOpsServer(
      opsServerOptions(loadConfig({ METRICS_PORT: '0', METRICS_TOKEN: token })),
      () => true,
    );
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;
    const metrics = (authorization?: string) =>
      fetch(`${base}/metrics`, authorization ? { headers: { authorization } } : {});
    const refused = await metrics();
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await metrics(`Bearer ${token}x`)).status, 401);
    assert.equal((await metrics(`Basic ${token}`)).status, 401);
    const served = await metrics(`Bearer ${token}`);
    assert.equal(served.status, 200);
    assert.match(await served.text(), /# HELP/);
    assert.equal((await fetch(`${base}/health`)).status, 200);
    assert.equal((await fetch(`${base}/ready`)).status, 200);
  });

  it('/ready answers 503 naming the dependency that is down, and 200 again once it is back', async () => {
    const server = await startOpsServer({ port: 0, host: '127.0.0.1' }, () => true);
    servers.push(server);
    const url = `http://127.0.0.1:${server.port}/ready`;
    dependencies.report('kafka', false, 'connect ECONNREFUSED 127.0.0.1:9092');
    try {
      const down = await fetch(url);
      assert.equal(down.status, 503);
      assert.deepEqual(await down.json(), {
        status: 'not ready',
        reason: 'unavailable: kafka',
        down: [{ dependency: 'kafka', reason: 'connect ECONNREFUSED 127.0.0.1:9092' }],
      });
    } finally {
      dependencies.report('kafka', true);
    }
    assert.equal((await fetch(url)).status, 200);
  });

  it('without a token, serves /metrics to anyone who reaches it', async () => {
    const server = await startOpsServer({ port: 0, host: '127.0.0.1' }, () => true);
    servers.push(server);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status, 200);
  });
});
