/**
 * Hive Gateway's runtime on node:http with graphql-ws on its endpoint, as its CLI
 * (`hive-gateway`) serves it: the child the subscriptions benchmark measures beside
 * tickcast's gateway. BENCH_SUPERGRAPH names the supergraph file, BENCH_PORT the port.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

/** This module's path: the Hive Gateway child runs it. */
export const HIVE_SCRIPT = fileURLToPath(import.meta.url);

const HIVE_GATEWAY = '@graphql-hive/gateway'; // a variable: its types break the project's (see bench/gateway.ts)
const WHATWG_SERVER = '@whatwg-node/server';

interface HiveRuntime {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly graphqlEndpoint: string;
  readonly fetchAPI: unknown;
  dispose(): Promise<void> | void;
}

async function serveHive(): Promise<void> {
  const supergraph = await readFile(process.env['BENCH_SUPERGRAPH']!, 'utf8');
  const port = Number(process.env['BENCH_PORT']);
  const hive = (await import(HIVE_GATEWAY)) as {
    createGatewayRuntime(config: Record<string, unknown>): HiveRuntime;
    getGraphQLWSOptions(
      runtime: HiveRuntime,
      context: (ctx: { extra: { request: IncomingMessage; socket: unknown } }) => Record<string, unknown>,
    ): Parameters<typeof useServer>[0];
  };
  const { normalizeNodeRequest } = (await import(WHATWG_SERVER)) as {
    normalizeNodeRequest(request: IncomingMessage, fetchAPI: unknown): unknown;
  };
  const runtime = hive.createGatewayRuntime({
    supergraph,
    logging: 'warn',
    landingPage: false,
    graphiql: false,
    // Subscriptions go to the subgraphs over graphql-ws; everything else over HTTP.
    transportEntries: { '*.http': { options: { subscriptions: { kind: 'ws' } } } },
  });
  const server = createServer(runtime);
  const wsServer = new WebSocketServer({ path: runtime.graphqlEndpoint, server });
  const ws = useServer(
    hive.getGraphQLWSOptions(runtime, (ctx) => ({
      req: ctx.extra.request,
      socket: ctx.extra.socket,
      request: normalizeNodeRequest(ctx.extra.request, runtime.fetchAPI),
    })),
    wsServer,
  );
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  process.once('SIGTERM', () => {
    void (async () => {
      await ws.dispose();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await runtime.dispose();
      process.exit(0);
    })();
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await serveHive();
