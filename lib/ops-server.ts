/**
 * Every service's operations endpoint: /metrics (Prometheus), /health (the process is
 * alive) and /ready (its dependencies are reachable and it is doing its job); the
 * Kubernetes probes and Prometheus scrape these.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from './metrics.ts';

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startOpsServer(port: number, ready: () => boolean | Promise<boolean>): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    void (async () => {
      if (path === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
      } else if (path === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ok"}');
      } else if (path === '/ready') {
        const ok = await Promise.resolve(ready()).catch(() => false);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: ok ? 'ready' : 'not ready' }));
      } else {
        res.writeHead(404).end();
      }
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
