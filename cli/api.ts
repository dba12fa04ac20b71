/**
 * Starts the GraphQL side in one process for `tickcast start`: the five subgraphs on
 * free ports sharing the feature store, and the gateway in front of them. With auth
 * enabled and no credentials configured, a one-session admin key is generated and
 * printed, so the embedded default is protected without setup. Likewise without
 * TICKCAST_INTERNAL_SECRET a random one is generated for this run: the gateway signs
 * what it forwards with it and only these subgraphs can verify it.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { generateApiKey, parseApiKeyEntries } from '../gateway/auth.ts';
import { gatewayConfigFromEnv, type GatewayConfig } from '../gateway/config.ts';
import { createGateway, type RunningGateway } from '../gateway/server.ts';
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs.ts';
import type { Bus } from '../streams/bus/bus.ts';
import { subgraphDefinition } from '../subgraphs/catalog.ts';
import { startSubgraph, type RunningSubgraph } from '../subgraphs/server.ts';

export interface RunningApi {
  readonly gateway: RunningGateway;
  readonly subgraphs: readonly RunningSubgraph[];
  /** Set when this session generated its own admin key (shown once). */
  readonly sessionKey: string | undefined;
}

export async function startApi(config: Config, deps: { pool: pg.Pool; bus: Bus; logger: Logger }): Promise<RunningApi> {
  const { pool, bus, logger } = deps;
  const internalSecrets = config.TICKCAST_INTERNAL_SECRET ?? [randomBytes(32).toString('base64url')];
  const subgraphs: RunningSubgraph[] = [];
  const urls = {} as Record<SubgraphName, string>;
  for (const name of SUBGRAPHS) {
    const subgraph = await startSubgraph(subgraphDefinition(name, config), {
      pool,
      bus,
      logger,
      port: 0,
      host: '127.0.0.1',
      internalSecrets,
    });
    subgraphs.push(subgraph);
    urls[name] = subgraph.url;
  }
  const base = await gatewayConfigFromEnv(config);
  let sessionKey: string | undefined;
  let auth = base.auth;
  if (auth.mode === 'enabled' && auth.apiKeys.length === 0 && !auth.jwt) {
    const generated = generateApiKey('session', ['read', 'admin']);
    sessionKey = generated.key;
    auth = { mode: 'enabled', apiKeys: parseApiKeyEntries(generated.entry) };
  }
  const gatewayConfig: GatewayConfig = {
    ...base,
    auth,
    subgraphs: Object.fromEntries(
      SUBGRAPHS.map((name) => [name, { ...base.subgraphs[name], url: urls[name], signingSecret: internalSecrets[0] }]),
    ) as GatewayConfig['subgraphs'],
  };
  const gateway = await createGateway(gatewayConfig, { logger });
  return { gateway, subgraphs, sessionKey };
}

/** What a person starting tickcast needs to read: where the API is and how to get in. */
export function apiBanner(api: RunningApi): string {
  const url = api.gateway.url.replace('0.0.0.0', '127.0.0.1');
  const lines = [`GraphQL API and Apollo Sandbox: ${url}`];
  if (api.gateway.authDisabled) {
    lines.push('AUTHENTICATION IS DISABLED (GATEWAY_AUTH=disabled): for local development only.');
  } else if (api.sessionKey) {
    lines.push(`No API keys configured: this session's admin key is ${api.sessionKey}`);
    lines.push(
      'Send it as header "x-api-key" (Sandbox: Connection settings > Shared headers). It dies with the process.',
    );
  }
  return lines.join('\n');
}
