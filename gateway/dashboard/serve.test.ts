import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDashboardHandler, isDashboardPath } from './serve.ts';

describe('dashboard files', () => {
  let server: Server;
  let base: string;

  before(async () => {
    const handler = await createDashboardHandler();
    server = createServer((req, res) => {
      const { pathname } = new URL(req.url ?? '/', 'http://x');
      if (isDashboardPath(pathname)) handler(req, res, pathname);
      else res.writeHead(418).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  it('serves the page at /dashboard and /dashboard/ with a CSP for its own origin only', async () => {
    for (const path of ['/dashboard', '/dashboard/', '/dashboard/index.html']) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(await response.text(), /<script type="module" src="\/dashboard\/app.js">/);
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self';/);
      assert.match(csp, /connect-src 'self';/);
    }
  });

  it('reflects nothing of the request, its Host header included, into the CSP', async () => {
    const cspFor = (host: string) =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(base);
        const req = request({ host: '127.0.0.1', port, path: '/dashboard', headers: { host } }, (res) => {
          res.resume();
          resolve(String(res.headers['content-security-policy']));
        });
        req.on('error', reject).end();
      });
    const plain = await cspFor(new URL(base).host);
    for (const host of ['evil.example', 'evil.example:443', '[::1]:9']) {
      const csp = await cspFor(host);
      assert.equal(csp, plain);
      assert.ok(!csp.includes(host.replace(/:\d+$/, '')), csp);
    }
    assert.ok(!plain.includes('127.0.0.1'), plain);
  });

  it('names each file type, revalidates by ETag and answers 304', async () => {
    for (const [path, type] of [
      ['/dashboard/app.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/style.css', 'text/css; charset=utf-8'],
      ['/dashboard/vendor/graphql-ws/client.js', 'text/javascript; charset=utf-8'],
    ] as const) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('content-type'), type);
      assert.equal(response.headers.get('cache-control'), 'no-cache');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      const etag = response.headers.get('etag') ?? '';
      assert.match(etag, /^"[\w-]+"$/);
      const again = await fetch(`${base}${path}`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
      assert.equal(await again.text(), '');
    }
  });

  it("serves graphql-ws's browser client with the chunks it imports, and nothing else of node_modules", async () => {
    const client = await (await fetch(`${base}/dashboard/vendor/graphql-ws/client.js`)).text();
    const chunk = /from '\.\/([\w.-]+\.js)'/.exec(client)?.[1];
    assert.ok(chunk, 'the client imports a shared chunk');
    assert.equal((await fetch(`${base}/dashboard/vendor/graphql-ws/${chunk}`)).status, 200);
    assert.equal((await fetch(`${base}/dashboard/vendor/graphql-ws/index.js`)).status, 404);
    assert.equal((await fetch(`${base}/dashboard/vendor/graphql-ws/client.cjs`)).status, 404);
  });

  it('answers 404 for unknown files, 405 for writes, HEAD without a body', async () => {
    assert.equal((await fetch(`${base}/dashboard/nope.js`)).status, 404);
    // Only names read at start-up are served (a map lookup): no path reaches the file system.
    assert.equal((await fetch(`${base}/dashboard/serve.ts`)).status, 404);
    const post = await fetch(`${base}/dashboard`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(`${base}/dashboard/app.js`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 0);
  });

  it('claims /dashboard and below only', () => {
    assert.equal(isDashboardPath('/dashboard'), true);
    assert.equal(isDashboardPath('/dashboard/app.js'), true);
    assert.equal(isDashboardPath('/dashboards'), false);
    assert.equal(isDashboardPath('/graphql'), false);
  });
});
