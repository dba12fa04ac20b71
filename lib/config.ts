/**
 * All configuration, read from the environment once at start-up and validated.
 * Every option and its default is listed here; nothing else the services run reads
 * process.env but lib/logger.ts, whose `rootLogger` takes LOG_LEVEL before any configuration
 * is loaded (the benchmarks in bench/ read their own settings).
 * Unset service addresses select the embedded default (in-process bus, PGlite).
 */
import { z } from 'zod';
import { intervalSchema, pairSchema } from '../schema/events.ts';
import { MIN_SECRET_BYTES } from './internal-signature.ts';
import { SUBGRAPHS, SUPERGRAPH_PATH } from '../schema/subgraphs.ts';

const list = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    )
    .pipe(z.array(item).min(1));

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const positiveInt = z.coerce.number().int().positive();
const optionalUrl = z
  .string()
  .url()
  .optional()
  .or(z.literal('').transform(() => undefined));

export const configSchema = z.object({
  /** Comma-separated brokers. Unset: the in-process bus (embedded default). */
  KAFKA_BROKERS: list(z.string().regex(/^[^:]+:\d+$/, 'broker must be host:port')).optional(),
  KAFKA_CLIENT_ID: z.string().default('tickcast'),
  /** Prefix for consumer groups and transactional ids: isolates deployments or test runs sharing a broker. */
  TICKCAST_GROUP_PREFIX: z.string().default(''),
  /** Prefix for every Kafka topic name (e.g. "staging."); empty uses the names in schema/topics.ts. */
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only')
    .default(''),
  /**
   * The broker drops a consumer silent for this long and rebalances its group. Consumers
   * heartbeat while a batch is processed too, so a slow batch (LLM calls) does not count.
   * Brokers accept 6000-1800000 by default (group.min/max.session.timeout.ms).
   */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(30_000),
  /** Between heartbeats; well under a third of KAFKA_SESSION_TIMEOUT_MS. */
  KAFKA_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(3_000),
  /**
   * Fault injection, for the scale-out test only: a stateful processor holds its first
   * transaction with outputs open this long before committing it (0: never), so a test can
   * freeze a replica inside a transaction and check that the task's next owner fences it.
   */
  KAFKA_FAULT_HOLD_TRANSACTION_MS: z.coerce.number().int().min(0).max(120_000).default(0),
  /** PostgreSQL / RisingWave URL. Unset: embedded PGlite. */
  DATABASE_URL: optionalUrl,
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(5),
  /** A connection attempt (TCP, TLS, start-up) that takes longer fails instead of waiting on a dead host. */
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt.default(5_000),
  /** An idle pooled connection is closed after this long (a restarted server's stale sockets go away). */
  DATABASE_IDLE_TIMEOUT_MS: positiveInt.default(30_000),
  /** Server side: PostgreSQL cancels a statement running longer than this (SQLSTATE 57014). */
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(30_000),
  /** Client side: a query without an answer after this long fails, even if the server never speaks again. */
  DATABASE_QUERY_TIMEOUT_MS: positiveInt.default(35_000),
  /** How often each process checks that Kafka and PostgreSQL answer (its /ready and tickcast_dependency_up). */
  DEPENDENCY_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).default(2_000),
  /**
   * Failed checks in a row before a dependency counts as down (/ready 503, its outage bound
   * running): one check that is only slow under load must not restart every Kafka process.
   */
  DEPENDENCY_FAILURES_BEFORE_DOWN: z.coerce.number().int().min(1).max(100).default(2),
  /**
   * Kafka unreachable for longer than this: the process exits non-zero so its supervisor restarts it.
   * A shorter outage is waited out (not ready), and the process exits non-zero once the broker is
   * back: kafkajs' clients (transactional producers above all) do not reliably resume after an
   * outage. The input waits in Kafka either way, and output stays exactly-once across the restart.
   */
  KAFKA_MAX_OUTAGE_MS: positiveInt.default(30_000),
  /**
   * PostgreSQL unreachable for longer than this: the process exits non-zero. Until then the store
   * writers retry each failed batch (its input offsets stay uncommitted, so the batch waits in Kafka).
   */
  DATABASE_MAX_OUTAGE_MS: positiveInt.default(300_000),
  /**
   * Elasticsearch unreachable for longer than this (its check, or a predictions batch that cannot be
   * written): the predictions writer exits non-zero. Until then it holds the batch and retries it
   * (its input offsets stay uncommitted, so the predictions wait in Kafka); PostgreSQL's writer is
   * not held back (a consumer group of its own).
   */
  ELASTICSEARCH_MAX_OUTAGE_MS: positiveInt.default(300_000),
  /**
   * MLflow unreachable at predictor start for longer than this: the predictor exits non-zero. It
   * starts predicting only once the registry has answered for every model (not ready meanwhile).
   * Once serving, an MLflow outage is no reason to stop: the loaded models keep serving, and a
   * champion registered meanwhile is loaded when MLflow answers again.
   */
  MLFLOW_MAX_OUTAGE_MS: positiveInt.default(300_000),
  /** A stop (SIGTERM or a failure) that takes longer than this ends the process anyway, non-zero. */
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(15_000),
  /** Where the embedded default keeps its files (PGlite data, local model registry, recordings). */
  TICKCAST_DATA_DIR: z.string().default('.tickcast'),
  PAIRS: list(pairSchema).default(['BTC/USD', 'ETH/USD']),
  CANDLE_INTERVALS: list(intervalSchema).default(['1m', '5m', '15m', '1h']),
  CANDLE_ALLOWED_LATENESS_MS: z.coerce.number().int().min(0).max(59_000).default(2_000),
  /** Trades, clocks and news items stamped more than this ahead of the wall clock are dead-lettered (FUTURE_EVENT). */
  EVENT_MAX_AHEAD_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
  /**
   * A trade or clock more than this ahead of its pair's event time is dead-lettered (FUTURE_EVENT), so one
   * mis-stamped event cannot close weeks of windows in a replay. At least a minute: replays and backfills
   * step their clocks through quiet periods one minute at a time.
   */
  CANDLE_MAX_JUMP_MS: z.coerce.number().int().min(60_000).default(300_000),
  /** Most flat one-minute candles one event may emit for a gap; minutes beyond are skipped, unfilled (logged, counted). */
  CANDLE_MAX_GAP_FILL_MINUTES: z.coerce.number().int().min(1).max(100_000).default(1_440),
  /** Publish in-progress candles for live charts (tickcast.candles.live.v1). */
  CANDLE_LIVE_UPDATES: bool.default(true),
  KRAKEN_WS_URL: z.string().url().default('wss://ws.kraken.com/v2'),
  KRAKEN_REST_URL: z.string().url().default('https://api.kraken.com'),
  /** MLflow tracking server (model registry). Unset: the local registry in TICKCAST_DATA_DIR/registry. */
  MLFLOW_TRACKING_URI: optionalUrl,
  /** Interface `tickcast subgraph <name>` binds; only the gateway calls a subgraph (Kubernetes sets 0.0.0.0). */
  SUBGRAPH_HOST: z.string().min(1).default('127.0.0.1'),
  /** Where `tickcast subgraph <name>` listens; unset uses the subgraph's default port (4001-4005). */
  SUBGRAPH_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Subgraph URLs the gateway calls; each defaults to http://127.0.0.1:<default port>/graphql. */
  SUBGRAPH_MARKETS_URL: optionalUrl,
  SUBGRAPH_FEATURES_URL: optionalUrl,
  SUBGRAPH_SENTIMENT_URL: optionalUrl,
  SUBGRAPH_MODELS_URL: optionalUrl,
  SUBGRAPH_PREDICTIONS_URL: optionalUrl,
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65_535).default(4000),
  /** Horizons the predictor serves (minutes); each needs a registered model tickcast-<pair>-<h>m. */
  PREDICTION_HORIZONS: list(z.string().regex(/^[1-9]\d*$/, 'horizon must be whole minutes')).default(['1', '5', '15']),
  /** How often the predictor checks the registry's champion alias. */
  CHAMPION_POLL_MS: z.coerce.number().int().min(100).default(10_000),
  /**
   * How long the predictor waits for the partner pair's candle of the same minute (cross-asset
   * models) when the partner's feed is live, before predicting as persistence for that minute.
   */
  /**
   * Cross-asset inputs: PAIR:PARTNER entries, the partner's returns feeding the pair's
   * cross-asset models (training/cross-asset.ts).
   */
  CROSS_ASSET_PARTNERS: list(
    z.string().regex(/^[A-Z0-9]+\/[A-Z0-9]+:[A-Z0-9]+\/[A-Z0-9]+$/, 'expected PAIR:PARTNER, e.g. ETH/USD:BTC/USD'),
  )
    .default(['BTC/USD:ETH/USD', 'ETH/USD:BTC/USD'])
    .transform((entries) => new Map(entries.map((entry) => entry.split(':') as [string, string]))),
  /** `tickcast start` retrains every pair and horizon this often from the feature store; 0: never on a schedule. */
  RETRAIN_INTERVAL_MS: z.coerce.number().int().min(0).default(21_600_000),
  /** Fewest ms between two drift-alert retrainings of one pair and horizon. */
  RETRAIN_MIN_SPACING_MS: z.coerce.number().int().min(0).default(3_600_000),
  PREDICTOR_PARTNER_WAIT_MS: z.coerce.number().int().min(0).max(30_000).default(2_000),
  /**
   * Elasticsearch for searching and monitoring predictions (Grafana). Set: predictions are
   * written there too, beside the feature store's tables that the API reads.
   */
  ELASTICSEARCH_URL: optionalUrl,
  /** Start of every Elasticsearch index and template name: `<prefix>-predictions-YYYY.MM`; tests isolate by it. */
  ELASTICSEARCH_INDEX_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'lowercase letters, digits, _ . - (an Elasticsearch index name)')
    .default('tickcast'),
  /** Outcomes per rolling error window of the error monitor. */
  MONITOR_WINDOW: z.coerce.number().int().positive().default(500),
  /** Alert when rolling MAE exceeds the version's training MAE by this factor. */
  MONITOR_ALERT_FACTOR: z.coerce.number().positive().default(1.5),
  MONITOR_MIN_OUTCOMES: z.coerce.number().int().positive().default(30),
  /** OpenAI-compatible endpoint for sentiment (OpenAI, Ollama, vLLM, llama.cpp); unset: the offline lexicon scorer. */
  LLM_BASE_URL: optionalUrl,
  /** Model name at LLM_BASE_URL, e.g. gpt-4o-mini or llama3.1:8b; required with LLM_BASE_URL. */
  LLM_MODEL: z.string().optional(),
  /** Bearer key; local servers accept any value. */
  LLM_API_KEY: z.string().default('not-needed'),
  /** Prompt file streams/sentiment/prompts/<version>.md; recorded in every signal. */
  LLM_PROMPT_VERSION: z
    .string()
    .regex(/^[a-z0-9.-]+$/, 'a prompt file name without .md')
    .default('sentiment-v1'),
  LLM_TIMEOUT_MS: positiveInt.default(20_000),
  /** Attempts after the first, with exponential backoff from LLM_RETRY_BASE_MS. */
  LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  LLM_RETRY_BASE_MS: z.coerce.number().int().min(0).default(500),
  /** Consecutive failed articles that open the circuit (offline scorer until the cooldown ends). */
  LLM_CIRCUIT_FAILURES: positiveInt.default(5),
  LLM_CIRCUIT_COOLDOWN_MS: positiveInt.default(60_000),
  /**
   * While the LLM is unreachable (circuit open) the extractor holds articles unscored, their
   * input offsets uncommitted; unreachable longer than this, it exits 1 for its supervisor.
   */
  LLM_MAX_OUTAGE_MS: positiveInt.default(300_000),
  /** Articles the sentiment extractor remembers to skip re-deliveries; older ones are forgotten (bounded memory). */
  SENTIMENT_MAX_ARTICLES: positiveInt.default(50_000),
  /** Headline dataset `tickcast start` replays into the news pipeline when present. */
  NEWS_REPLAY_FILE: z.string().default('../shared/data/news/cryptonews_2021-10-12_2022-07-05.csv.gz'),
  /** CryptoPanic-style API key; set to poll it. */
  NEWS_CRYPTOPANIC_TOKEN: z.string().optional(),
  NEWS_CRYPTOPANIC_URL: z.string().url().default('https://cryptopanic.com'),
  /** Comma-separated RSS/Atom feed URLs to poll. */
  NEWS_RSS_FEEDS: list(z.string().url()).optional(),
  /** Between polls of each news API or feed (polite: most outlets update every few minutes). */
  NEWS_POLL_INTERVAL_MS: z.coerce.number().int().min(10_000).default(300_000),
  NEWS_HTTP_TIMEOUT_MS: positiveInt.default(15_000),
  /** Port for /metrics, /health and /ready; 0 picks a free one. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9464),
  /** Interface of the metrics port; Kubernetes sets 0.0.0.0 for its probes and Prometheus. */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** When set, /metrics answers only `Authorization: Bearer <token>` (/health and /ready stay open). */
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters (e.g. `openssl rand -hex 16`)').optional(),
  /**
   * Shared secret(s) the gateway signs what it forwards to subgraphs with (caller, scopes,
   * request id; lib/internal-signature.ts), comma-separated for rotation: subgraphs accept
   * any, the gateway signs with the first. Unset: `tickcast start` generates one per run;
   * a separate gateway then sends unsigned requests and a separate subgraph serves public
   * scope only (no admin mutations), both warning at start-up.
   */
  TICKCAST_INTERNAL_SECRET: list(
    z
      .string()
      .refine(
        (s) => Buffer.byteLength(s) >= MIN_SECRET_BYTES,
        `each secret needs at least ${MIN_SECRET_BYTES} bytes (e.g. \`openssl rand -hex 32\`)`,
      ),
  ).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // The gateway (gateway/config.ts turns these into its typed GatewayConfig).

  /** Interface the gateway binds; Kubernetes (and anything behind a proxy on another host) sets 0.0.0.0. */
  GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  /** `disabled` turns authentication off (local development only; logged loudly). */
  GATEWAY_AUTH: z.enum(['enabled', 'disabled']).default('enabled'),
  /** Comma-separated `id:hash:scopes` entries; hash `hmac-sha256:<hex>` (keyed with GATEWAY_API_KEY_SECRET) or `sha256:<hex>`, scopes `read` or `read+admin`. */
  GATEWAY_API_KEYS: z.string().default(''),
  /** A JSON file of `[{ "id", "hash", "scopes": ["read"] }]`, added to GATEWAY_API_KEYS. */
  GATEWAY_API_KEYS_FILE: z.string().optional(),
  GATEWAY_JWKS_URL: z.string().url().optional(),
  GATEWAY_JWT_ISSUER: z.string().optional(),
  GATEWAY_JWT_AUDIENCE: z.string().optional(),
  GATEWAY_JWT_ALGORITHMS: list(z.string()).default(['RS256', 'ES256']),
  GATEWAY_JWKS_TIMEOUT_MS: positiveInt.default(5_000),
  /** Key for hmac-sha256 API key entries (at least 32 characters); `tickcast api-key` issues such entries when set. */
  GATEWAY_API_KEY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Failed authentications one client address may make per minute before it is refused unheard (429). */
  GATEWAY_AUTH_FAILURES_PER_MINUTE: positiveInt.default(20),
  GATEWAY_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(10),
  GATEWAY_RATE_LIMIT_BURST: positiveInt.default(50),
  GATEWAY_MAX_DEPTH: positiveInt.default(10),
  GATEWAY_MAX_ALIASES: z.coerce.number().int().min(0).default(30),
  GATEWAY_MAX_COST: positiveInt.default(5_000),
  GATEWAY_DEFAULT_LIST_SIZE: positiveInt.default(10),
  GATEWAY_MAX_TOKENS: positiveInt.default(3_000),
  GATEWAY_MAX_BODY_BYTES: positiveInt.default(102_400),
  /** `static`: schema/supergraph.graphql (or GATEWAY_SUPERGRAPH_PATH). `introspect`: compose at start-up (dev only). */
  GATEWAY_SUPERGRAPH: z.enum(['static', 'introspect']).default('static'),
  GATEWAY_SUPERGRAPH_PATH: z.string().default(SUPERGRAPH_PATH),
  GATEWAY_SUBGRAPH_TIMEOUT_MS: positiveInt.default(5_000),
  /** Per-subgraph overrides of GATEWAY_SUBGRAPH_TIMEOUT_MS, e.g. `models=10000,sentiment=2000`. */
  GATEWAY_SUBGRAPH_TIMEOUTS: list(
    z.string().regex(new RegExp(`^(${SUBGRAPHS.join('|')})=\\d+$`), 'expected subgraph=milliseconds'),
  ).default([]),
  GATEWAY_CORS_ORIGINS: list(z.string()).default(['*']),
  GATEWAY_INTROSPECTION: bool.default(true),
  GATEWAY_LANDING_PAGE: bool.default(true),
  /** The live dashboard at /dashboard (static page; its data comes through /graphql like any client's). */
  GATEWAY_DASHBOARD: bool.default(true),
  GATEWAY_APQ: bool.default(true),
  /** 0 keeps entries until the bounded cache evicts them. */
  GATEWAY_APQ_TTL_SECONDS: z.coerce.number().int().min(0).default(86_400),
  /** Open subscriptions one API key (or JWT subject) may hold at once, over all its connections. */
  GATEWAY_SUBSCRIPTIONS_PER_KEY: positiveInt.default(100),
  /** Open graphql-ws connections per key (each carries any number of subscriptions). */
  GATEWAY_WS_CONNECTIONS_PER_KEY: positiveInt.default(50),
  /** Bytes a subscriber's socket may hold unsent before it is disconnected as a slow consumer. */
  GATEWAY_WS_MAX_BUFFERED_BYTES: positiveInt.default(8 * 1024 * 1024),
  /** How long a subgraph's subscription socket may be down before subscribers get an error event. */
  GATEWAY_SUBSCRIPTION_GRACE_MS: positiveInt.default(5_000),
  /** Longest wait between reconnects to a subgraph's subscriptions. */
  GATEWAY_SUBSCRIPTION_MAX_BACKOFF_MS: positiveInt.default(5_000),
  /** A graphql-ws client must send connection_init within this time. */
  GATEWAY_WS_INIT_TIMEOUT_MS: positiveInt.default(5_000),
  /**
   * Where the rate limit, failed-auth throttle and per-key connection/subscription caps are kept.
   * `memory`: per gateway replica (N replicas allow N times each limit). `postgres`: shared by every
   * replica through DATABASE_URL (gateway/shared-limits.ts), falling back to per-replica memory
   * while PostgreSQL does not answer.
   */
  GATEWAY_LIMITS_STORE: z.enum(['memory', 'postgres']).default('memory'),
  /** A limits query (or connection attempt) PostgreSQL has not answered by then counts as the store being down. */
  GATEWAY_LIMITS_STORE_TIMEOUT_MS: positiveInt.default(1_000),
  /** After a limits store failure, limits stay per replica this long before PostgreSQL is tried again. */
  GATEWAY_LIMITS_STORE_RETRY_MS: positiveInt.default(5_000),
  /**
   * PostgreSQL connections each gateway replica keeps for its limits: replicas × this must fit in
   * PostgreSQL's max_connections beside every other service's pool. A take is one short statement.
   */
  GATEWAY_LIMITS_POOL_SIZE: z.coerce.number().int().min(1).max(20).default(4),
  /** A shared connection/subscription lease not renewed for this long (its replica died) stops counting. */
  GATEWAY_LIMITS_LEASE_TTL_MS: z.coerce.number().int().min(1_000).default(30_000),
  APOLLO_KEY: z.string().optional(),
  APOLLO_GRAPH_REF: z.string().optional(),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).flatMap((key) => (env[key] === undefined ? [] : [[key, env[key]]])),
  );
  const parsed = configSchema.safeParse(known);
  if (parsed.success) return parsed.data;
  // The value is never repeated: it may be a secret, and the person reading the message has it.
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '(config)');
      const item = typeof issue.path[1] === 'number' ? ` (item ${issue.path[1] + 1})` : '';
      return `${name}${item}: ${issue.message}. Fix or unset ${name} (see lib/config.ts for its default).`;
    }),
  );
}
