/**
 * All configuration, read from the environment once at start-up and validated.
 * Every option and its default is listed here; nothing else reads process.env.
 * Unset service addresses select the embedded default (in-process bus, PGlite).
 */
import { z } from 'zod';
import { intervalSchema, pairSchema } from '../schema/events.ts';

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
  /** PostgreSQL / RisingWave URL. Unset: embedded PGlite. */
  DATABASE_URL: optionalUrl,
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(5),
  /** Where the embedded default keeps its files (PGlite data, local model registry, recordings). */
  TICKCAST_DATA_DIR: z.string().default('.tickcast'),
  PAIRS: list(pairSchema).default(['BTC/USD', 'ETH/USD']),
  CANDLE_INTERVALS: list(intervalSchema).default(['1m', '5m', '15m', '1h']),
  CANDLE_ALLOWED_LATENESS_MS: z.coerce.number().int().min(0).max(59_000).default(2_000),
  /** Publish in-progress candles for live charts (tickcast.candles.live.v1). */
  CANDLE_LIVE_UPDATES: bool.default(true),
  KRAKEN_WS_URL: z.string().url().default('wss://ws.kraken.com/v2'),
  KRAKEN_REST_URL: z.string().url().default('https://api.kraken.com'),
  /** MLflow tracking server (model registry). Unset: the local registry in TICKCAST_DATA_DIR/registry. */
  MLFLOW_TRACKING_URI: optionalUrl,
  /** Where `tickcast subgraph <name>` listens; unset uses the subgraph's default port (4001-4005). */
  SUBGRAPH_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Subgraph URLs the gateway calls; each defaults to http://127.0.0.1:<default port>/graphql. */
  SUBGRAPH_MARKETS_URL: optionalUrl,
  SUBGRAPH_FEATURES_URL: optionalUrl,
  SUBGRAPH_SENTIMENT_URL: optionalUrl,
  SUBGRAPH_MODELS_URL: optionalUrl,
  SUBGRAPH_PREDICTIONS_URL: optionalUrl,
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65_535).default(4000),
  /** Port for /metrics, /health and /ready; 0 picks a free one. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9464),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '(config)');
      return `${name}=${JSON.stringify(env[name] ?? '')}: ${issue.message}. Fix or unset ${name} (see lib/config.ts for its default).`;
    }),
  );
}
