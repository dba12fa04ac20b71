/**
 * The live dashboard's files: the static page in `public/` at /dashboard, and graphql-ws's
 * own browser client (its ESM build in node_modules) at /dashboard/vendor/graphql-ws/.
 * Everything the page shows comes from the gateway's /graphql (HTTP queries, graphql-ws
 * subscriptions); nothing is fetched from anywhere else, and the Content-Security-Policy
 * says so: scripts, styles and connections to this host only.
 *
 * Files are read once at start-up; each answer carries an ETag and `no-cache`, so a browser
 * revalidates (304) instead of running a stale page after an upgrade.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_PATH = '/dashboard';
const VENDOR_PREFIX = `${DASHBOARD_PATH}/vendor/graphql-ws/`;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** Answers GET/HEAD for /dashboard and everything under it; 404 for anything it does not serve. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, pathname: string) => void;

export function isDashboardPath(pathname: string): boolean {
  return pathname === DASHBOARD_PATH || pathname.startsWith(`${DASHBOARD_PATH}/`);
}

async function asset(file: string): Promise<Asset> {
  const body = await readFile(file);
  const type = CONTENT_TYPES[extname(file)];
  if (!type) throw new Error(`the dashboard has no content type for ${file}`);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** graphql-ws's browser client and the chunks it imports (relative `./x.js` imports, followed). */
async function vendorAssets(): Promise<Map<string, Asset>> {
  const dir = dirname(fileURLToPath(import.meta.resolve('graphql-ws/client')));
  const assets = new Map<string, Asset>();
  const pending = ['client.js'];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (assets.has(name)) continue;
    const loaded = await asset(join(dir, name));
    assets.set(name, loaded);
    for (const match of loaded.body.toString('utf8').matchAll(/from\s*['"]\.\/([\w.-]+\.js)['"]/g)) {
      if (match[1]) pending.push(match[1]);
    }
  }
  return assets;
}

/**
 * One fixed policy: nothing from the request (its Host header included) is reflected into
 * it. `connect-src 'self'` covers the page's own ws:/wss: origin too (CSP Level 3, which
 * current browsers implement; test/e2e/dashboard.e2e.ts checks Chromium).
 */
const CONTENT_SECURITY_POLICY = [
  `default-src 'none'`,
  `script-src 'self'`,
  `style-src 'self'`,
  `img-src 'self' data:`,
  `connect-src 'self'`,
  `base-uri 'none'`,
  `form-action 'self'`,
  `frame-ancestors 'none'`,
].join('; ');

export async function createDashboardHandler(): Promise<DashboardHandler> {
  const publicDir = join(dirname(fileURLToPath(import.meta.url)), 'public');
  const files = new Map<string, Asset>();
  for (const name of await readdir(publicDir)) {
    if (CONTENT_TYPES[extname(name)]) files.set(`${DASHBOARD_PATH}/${name}`, await asset(join(publicDir, name)));
  }
  const index = files.get(`${DASHBOARD_PATH}/index.html`);
  if (!index) throw new Error(`the dashboard has no index.html in ${publicDir}`);
  files.set(DASHBOARD_PATH, index);
  files.set(`${DASHBOARD_PATH}/`, index);
  for (const [name, vendored] of await vendorAssets()) files.set(`${VENDOR_PREFIX}${name}`, vendored);

  return (req, res, pathname) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const found = files.get(pathname);
    if (!found) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
      return;
    }
    const headers = {
      'cache-control': 'no-cache',
      etag: found.etag,
      'x-content-type-options': 'nosniff',
      // The page may carry ?key=: never send it on as a referrer.
      'referrer-policy': 'no-referrer',
      ...(found.type.startsWith('text/html') ? { 'content-security-policy': CONTENT_SECURITY_POLICY } : {}),
    };
    if (req.headers['if-none-match'] === found.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': found.type, 'content-length': found.body.length });
    res.end(req.method === 'HEAD' ? undefined : found.body);
  };
}
