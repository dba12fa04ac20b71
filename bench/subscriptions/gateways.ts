/**
 * The gateways under test, each started fresh in a child process over the same subgraphs:
 * tickcast's (`tickcast gateway`) and Hive Gateway (bench/subscriptions/hive.ts). Both wait
 * until their endpoint answers `{ __typename }`.
 */
import { fileURLToPath } from 'node:url';
import { SUBGRAPHS, type SubgraphName } from '../../schema/subgraphs.ts';
import { freePort } from '../../test/support/ports.ts';
import { startChild, waitReady, type Child } from './children.ts';
import { HIVE_SCRIPT } from './hive.ts';

export type GatewayKind = 'tickcast' | 'hive';

/**
 * tickcast's gateway without authentication or a landing page, and with limits no benchmark
 * reaches: every client is the same anonymous principal, and no per-key limit or rate limit
 * may refuse them. The soak's `tickcast start` serves its gateway the same way.
 */
export const OPEN_GATEWAY_ENV: NodeJS.ProcessEnv = {
  GATEWAY_AUTH: 'disabled',
  GATEWAY_LANDING_PAGE: 'false',
  GATEWAY_SUBSCRIPTIONS_PER_KEY: '1000000',
  GATEWAY_WS_CONNECTIONS_PER_KEY: '1000000',
  GATEWAY_RATE_LIMIT_PER_SECOND: '1000000',
  GATEWAY_RATE_LIMIT_BURST: '1000000',
};

const CLI_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** BENCH_PROFILE_DIR: the gateways under test write V8 CPU profiles there (`node --cpu-prof`) when they stop. */
const PROFILE_DIR = process.env['BENCH_PROFILE_DIR'];
const GATEWAY_FLAGS = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];

/** Starts the gateway `kind` in front of `subgraphUrls` (tickcast) or the supergraph composed over them (Hive). */
export async function startGateway(
  kind: GatewayKind,
  setup: {
    readonly env: NodeJS.ProcessEnv;
    readonly subgraphUrls: Record<SubgraphName, string>;
    readonly supergraphFile: string;
  },
): Promise<{ child: Child; url: string; metricsPort: number | null }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  if (kind === 'tickcast') {
    const metricsPort = await freePort();
    const child = startChild(
      'tickcast gateway',
      [CLI_MAIN, 'gateway'],
      {
        ...setup.env,
        GATEWAY_PORT: String(port),
        GATEWAY_HOST: '127.0.0.1',
        ...OPEN_GATEWAY_ENV,
        METRICS_PORT: String(metricsPort),
        ...Object.fromEntries(
          SUBGRAPHS.map((name) => [`SUBGRAPH_${name.toUpperCase()}_URL`, setup.subgraphUrls[name]]),
        ),
      },
      { nodeFlags: GATEWAY_FLAGS },
    );
    await waitReady(child, url);
    return { child, url, metricsPort };
  }
  const child = startChild(
    'Hive Gateway',
    [HIVE_SCRIPT],
    {
      ...setup.env,
      BENCH_SUPERGRAPH: setup.supergraphFile,
      BENCH_PORT: String(port),
    },
    { nodeFlags: GATEWAY_FLAGS },
  );
  await waitReady(child, url);
  return { child, url, metricsPort: null };
}
