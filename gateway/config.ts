/**
 * The gateway's configuration: the typed `GatewayConfig` that `createGateway` takes, built by
 * `gatewayConfigFromEnv` from the process configuration. Every GATEWAY_* variable, like
 * SUBGRAPH_<NAME>_URL and TICKCAST_INTERNAL_SECRET, is parsed and given its default in
 * lib/config.ts with the rest of the process's configuration; this module turns them into the
 * gateway's shape: per subgraph a URL, a timeout (GATEWAY_SUBGRAPH_TIMEOUTS over
 * GATEWAY_SUBGRAPH_TIMEOUT_MS) and the signing secret (the first of TICKCAST_INTERNAL_SECRET),
 * and the API key entries of GATEWAY_API_KEYS plus GATEWAY_API_KEYS_FILE (read here). What no
 * single variable's rule can catch (a bad entry in that file, a JWKS URL without its issuer and
 * audience) throws a ConfigError naming the variables. `tickcast start` (cli/api.ts) then puts
 * its own subgraphs' URLs, and a session key when none is configured, over the result.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError, type Config } from '../lib/config.ts';
import { defaultSubgraphUrl, SUBGRAPHS, type SubgraphName } from '../schema/subgraphs.ts';
import { parseApiKeyEntries, apiKeyEntrySchema, type AuthConfig, type JwtConfig } from './auth.ts';

export interface QueryLimitsConfig {
  /** Longest chain of nested fields in one operation. */
  readonly maxDepth: number;
  /** Aliases in one operation, counted after expanding fragments. */
  readonly maxAliases: number;
  /** Estimated cost: every object field costs 1, times the sizes of the lists it sits in. */
  readonly maxCost: number;
  /** Assumed size of a list field without a `first`/`last` argument or default. */
  readonly defaultListSize: number;
  /** GraphQL tokens the parser accepts before giving up (graphql-js `maxTokens`). */
  readonly maxTokens: number;
  /** Request body (or GET URL) size. */
  readonly maxBodyBytes: number;
}

export interface SubgraphConfig {
  readonly url: string;
  readonly timeoutMs: number;
  /**
   * Signs the caller's scopes, id and request id sent to this subgraph (lib/internal-signature.ts);
   * unset: sent unsigned, and the subgraph grants public scope only.
   */
  readonly signingSecret?: string;
  /**
   * Identical client-query fetches in flight at once (same auth context) share one request
   * (gateway/subgraphs.ts). Default true; false only to measure without it (bench/gateway.ts).
   */
  readonly dedupe?: boolean;
  /**
   * Bytes of one answer read at most (default DEFAULT_MAX_SUBGRAPH_RESPONSE_BYTES in
   * gateway/subgraphs.ts); past it the fetch fails as SUBGRAPH_UNAVAILABLE (reason too_large).
   */
  readonly maxResponseBytes?: number;
}

export interface GatewayConfig {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host: string;
  readonly auth: AuthConfig;
  /** Per-key token bucket: `ratePerSecond` tokens refill per second up to `burst`; one operation takes one. */
  readonly rateLimit: { readonly ratePerSecond: number; readonly burst: number };
  /** Failed authentications per client address and window before the address is refused unheard. */
  readonly authFailures: { readonly perWindow: number; readonly windowSeconds: number };
  readonly limits: QueryLimitsConfig;
  readonly subgraphs: Readonly<Record<SubgraphName, SubgraphConfig>>;
  /** The committed supergraph (production), or IntrospectAndCompose against the running subgraphs (dev only). */
  readonly supergraph: { readonly kind: 'static'; readonly path: string } | { readonly kind: 'introspect' };
  /** Allowed CORS origins; `*` allows any (credentials travel in headers, never cookies). */
  readonly corsOrigins: readonly string[];
  readonly introspection: boolean;
  /** Apollo Sandbox on GET /graphql from a browser. */
  readonly landingPage: boolean;
  /** The live dashboard at /dashboard (gateway/dashboard/). */
  readonly dashboard: boolean;
  /** Automatic persisted queries in Apollo Server's bounded in-memory cache; `false` turns them off. */
  readonly persistedQueries: { readonly ttlSeconds: number | null } | false;
  readonly subscriptions: SubscriptionsConfig;
  /** Where the limits above are counted (gateway/shared-limits.ts). */
  readonly limitsStore: LimitsStoreConfig;
  /** Usage reporting to Apollo Studio: only when both are set. */
  readonly apollo?: { readonly key: string; readonly graphRef: string };
}

export interface SubscriptionsConfig {
  /** Open subscriptions per principal id, over all its connections. */
  readonly perKey: number;
  /** Open graphql-ws connections per principal id. */
  readonly connectionsPerKey: number;
  /** Bytes a subscriber's socket may hold unsent before it is disconnected. */
  readonly maxBufferedBytes: number;
  /** How long a subgraph may be unreachable before subscribers get an error event. */
  readonly graceMs: number;
  readonly maxBackoffMs: number;
  /** Time allowed between the WebSocket upgrade and connection_init. */
  readonly initTimeoutMs: number;
}

export type LimitsStoreConfig =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'postgres';
      readonly url: string;
      /** Each limits query (and connection attempt) is given up after this long: the store counts as down. */
      readonly timeoutMs: number;
      /** While down, limits are per replica; PostgreSQL is tried again after this long. */
      readonly retryMs: number;
      /** Connections to PostgreSQL this replica keeps for its limits. */
      readonly poolSize: number;
      /** A lease not renewed for this long stops counting; renewed every third of it. */
      readonly leaseTtlMs: number;
    };

const subgraphUrlVariable = <N extends SubgraphName>(name: N) =>
  `SUBGRAPH_${name.toUpperCase() as Uppercase<N>}_URL` as const;

/** The gateway's part of the process configuration (lib/config.ts). */
export type GatewayEnv = Config;

/** Builds the typed config from parsed variables (reads GATEWAY_API_KEYS_FILE). Throws on inconsistent settings. */
export async function gatewayConfigFromEnv(env: GatewayEnv): Promise<GatewayConfig> {
  const problems: string[] = [];
  const timeouts = new Map(
    env.GATEWAY_SUBGRAPH_TIMEOUTS.map((entry: string) => {
      const [name, ms] = entry.split('=');
      return [name, Number(ms)] as const;
    }),
  );
  // The first secret signs; the others are for subgraphs still verifying with an older one.
  const signingSecret = env.TICKCAST_INTERNAL_SECRET?.[0];
  const subgraphs = Object.fromEntries(
    SUBGRAPHS.map((name) => [
      name,
      {
        url: env[subgraphUrlVariable(name)] ?? defaultSubgraphUrl(name),
        timeoutMs: timeouts.get(name) ?? env.GATEWAY_SUBGRAPH_TIMEOUT_MS,
        ...(signingSecret ? { signingSecret } : {}),
      },
    ]),
  ) as Record<SubgraphName, SubgraphConfig>;

  let auth: AuthConfig = { mode: 'disabled' };
  if (env.GATEWAY_AUTH === 'enabled') {
    const apiKeys = [...parseApiKeyEntries(env.GATEWAY_API_KEYS)];
    if (env.GATEWAY_API_KEYS_FILE) {
      const text = await readFile(env.GATEWAY_API_KEYS_FILE, 'utf8');
      const parsed = z.array(apiKeyEntrySchema).safeParse(JSON.parse(text));
      if (parsed.success) apiKeys.push(...parsed.data);
      else problems.push(`GATEWAY_API_KEYS_FILE: ${parsed.error.issues[0]?.message}`);
    }
    let jwt: JwtConfig | undefined;
    if (env.GATEWAY_JWKS_URL) {
      if (!env.GATEWAY_JWT_ISSUER || !env.GATEWAY_JWT_AUDIENCE) {
        problems.push('GATEWAY_JWKS_URL needs GATEWAY_JWT_ISSUER and GATEWAY_JWT_AUDIENCE');
      } else {
        jwt = {
          jwksUrl: env.GATEWAY_JWKS_URL,
          issuer: env.GATEWAY_JWT_ISSUER,
          audience: env.GATEWAY_JWT_AUDIENCE,
          algorithms: env.GATEWAY_JWT_ALGORITHMS,
          jwksTimeoutMs: env.GATEWAY_JWKS_TIMEOUT_MS,
        };
      }
    }
    auth = {
      mode: 'enabled',
      apiKeys,
      ...(env.GATEWAY_API_KEY_SECRET ? { apiKeySecret: env.GATEWAY_API_KEY_SECRET } : {}),
      ...(jwt ? { jwt } : {}),
    };
  }
  let limitsStore: LimitsStoreConfig = { kind: 'memory' };
  if (env.GATEWAY_LIMITS_STORE === 'postgres') {
    if (!env.DATABASE_URL) problems.push('GATEWAY_LIMITS_STORE=postgres needs DATABASE_URL');
    else
      limitsStore = {
        kind: 'postgres',
        url: env.DATABASE_URL,
        timeoutMs: env.GATEWAY_LIMITS_STORE_TIMEOUT_MS,
        retryMs: env.GATEWAY_LIMITS_STORE_RETRY_MS,
        poolSize: env.GATEWAY_LIMITS_POOL_SIZE,
        leaseTtlMs: env.GATEWAY_LIMITS_LEASE_TTL_MS,
      };
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port: env.GATEWAY_PORT,
    host: env.GATEWAY_HOST,
    auth,
    rateLimit: { ratePerSecond: env.GATEWAY_RATE_LIMIT_PER_SECOND, burst: env.GATEWAY_RATE_LIMIT_BURST },
    authFailures: { perWindow: env.GATEWAY_AUTH_FAILURES_PER_MINUTE, windowSeconds: 60 },
    limits: {
      maxDepth: env.GATEWAY_MAX_DEPTH,
      maxAliases: env.GATEWAY_MAX_ALIASES,
      maxCost: env.GATEWAY_MAX_COST,
      defaultListSize: env.GATEWAY_DEFAULT_LIST_SIZE,
      maxTokens: env.GATEWAY_MAX_TOKENS,
      maxBodyBytes: env.GATEWAY_MAX_BODY_BYTES,
    },
    subgraphs,
    supergraph:
      env.GATEWAY_SUPERGRAPH === 'static'
        ? { kind: 'static', path: env.GATEWAY_SUPERGRAPH_PATH }
        : { kind: 'introspect' },
    corsOrigins: env.GATEWAY_CORS_ORIGINS,
    introspection: env.GATEWAY_INTROSPECTION,
    landingPage: env.GATEWAY_LANDING_PAGE,
    dashboard: env.GATEWAY_DASHBOARD,
    subscriptions: {
      perKey: env.GATEWAY_SUBSCRIPTIONS_PER_KEY,
      connectionsPerKey: env.GATEWAY_WS_CONNECTIONS_PER_KEY,
      maxBufferedBytes: env.GATEWAY_WS_MAX_BUFFERED_BYTES,
      graceMs: env.GATEWAY_SUBSCRIPTION_GRACE_MS,
      maxBackoffMs: env.GATEWAY_SUBSCRIPTION_MAX_BACKOFF_MS,
      initTimeoutMs: env.GATEWAY_WS_INIT_TIMEOUT_MS,
    },
    limitsStore,
    persistedQueries: env.GATEWAY_APQ
      ? { ttlSeconds: env.GATEWAY_APQ_TTL_SECONDS === 0 ? null : env.GATEWAY_APQ_TTL_SECONDS }
      : false,
    ...(env.APOLLO_KEY && env.APOLLO_GRAPH_REF
      ? { apollo: { key: env.APOLLO_KEY, graphRef: env.APOLLO_GRAPH_REF } }
      : {}),
  };
}
