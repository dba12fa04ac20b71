/**
 * Every service's operations endpoint: /metrics (Prometheus), /health (the process is
 * alive) and /ready (its dependencies are reachable and it is doing its job); the
 * Kubernetes probes and Prometheus scrape these. It binds 127.0.0.1 unless told otherwise
 * (Kubernetes sets METRICS_HOST=0.0.0.0), and with a token /metrics needs it as a bearer
 * token: metric labels name subgraphs, API key ids and topics. The probes stay open, as
 * kubelet sends no credentials.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { readiness } from './dependencies.ts';
import { registry } from './metrics.ts';

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface OpsServerOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host: string;
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  readonly token?: string | undefined;
}

export function opsServerOptions(config: Config): OpsServerOptions {
  return { port: config.METRICS_PORT, host: config.METRICS_HOST, token: config.METRICS_TOKEN };
}

/** Hashing first makes both sides one length, so the comparison's time says nothing about the token. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function authorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1] !== undefined && sameToken(match[1], token);
}

export async function startOpsServer(
  options: OpsServerOptions,
  ready: () => boolean | Promise<boolean>,
): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    void (async () => {
      if (path === '/metrics') {
        if (!authorized(req.headers.authorization, options.token)) {
          res.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"' }).end();
          return;
        }
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
      } else if (path === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ok"}');
      } else if (path === '/ready') {
        // Not ready while this service says so, or while anything it depends on is down (named in the body).
        const { ok, body } = readiness(await Promise.resolve(ready()).catch(() => false));
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(body);
      } else {
        res.writeHead(404).end();
      }
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
