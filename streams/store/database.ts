/**
 * The feature store connection. With DATABASE_URL set it is PostgreSQL (or RisingWave,
 * or anything speaking the Postgres wire protocol); without it, the embedded default
 * starts PGlite behind a local Postgres-protocol socket, so the same `pg` code runs
 * against both.
 */
import { mkdir } from 'node:fs/promises';
import pg from 'pg';
import type { Logger } from '../../lib/logger.ts';

export interface Database {
  readonly pool: pg.Pool;
  /** 'embedded' when PGlite serves this process. */
  readonly kind: 'postgres' | 'embedded';
  readonly url: string;
  close(): Promise<void>;
}

export interface DatabaseConfig {
  /** Unset: start the embedded PGlite store. */
  readonly url: string | undefined;
  /** Where the embedded store keeps its files; 'memory://' keeps nothing. */
  readonly embeddedDataDir: string;
  readonly poolSize: number;
  /** Connecting (TCP, TLS, start-up) and waiting for a free pooled connection, each. */
  readonly connectTimeoutMs: number;
  /** An idle pooled connection is closed after this long. */
  readonly idleTimeoutMs: number;
  /** The server cancels a longer statement (`statement_timeout`, SQLSTATE 57014). */
  readonly statementTimeoutMs: number;
  /** The client gives up on a query the server has not answered by then (a dead or partitioned server). */
  readonly queryTimeoutMs: number;
}

/**
 * Every bound of a pool. Without them a black-holed server hangs a connect forever, a
 * runaway statement holds its connection (and the batch waiting on it) forever, and a
 * restarted server leaves idle sockets that fail on their next use.
 */
function poolConfig(url: string, config: DatabaseConfig, max: number): pg.PoolConfig {
  return {
    connectionString: url,
    max,
    connectionTimeoutMillis: config.connectTimeoutMs,
    idleTimeoutMillis: config.idleTimeoutMs,
    statement_timeout: config.statementTimeoutMs,
    query_timeout: config.queryTimeoutMs,
  };
}

// NUMERIC comes back as a string by default; the store only holds values that are
// exact as JavaScript numbers (prices to the exchange tick, volumes to 1e-8).
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export async function openDatabase(config: DatabaseConfig, logger: Logger): Promise<Database> {
  if (config.url) {
    const pool = new pg.Pool(poolConfig(config.url, config, config.poolSize));
    pool.on('error', (error) => logger.warn({ err: error }, 'idle feature store connection failed'));
    return { pool, kind: 'postgres', url: config.url, close: () => pool.end() };
  }
  return openEmbedded(config, logger);
}

async function openEmbedded(config: DatabaseConfig, logger: Logger): Promise<Database> {
  const dataDir = config.embeddedDataDir;
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-socket'),
  ]);
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const address = server.getServerConn();
  const url = `postgres://postgres@${address}/postgres`;
  // PGlite is a single connection: one pooled client keeps every query on it. Its socket
  // server ignores start-up parameters, so statement_timeout does not apply here; the
  // client-side query timeout still does. Waiting for that one client is queueing behind
  // other queries, not connecting: bounded by the query timeout, since a 5 s connect bound
  // failed store writes (and stopped `tickcast start`) when CPU was short (soak benchmark).
  const pool = new pg.Pool({
    ...poolConfig(url, config, 1),
    connectionTimeoutMillis: Math.max(config.connectTimeoutMs, config.queryTimeoutMs),
  });
  logger.info({ dataDir, url }, 'embedded feature store (PGlite) started');
  return {
    pool,
    kind: 'embedded',
    url,
    close: async () => {
      await pool.end();
      await server.stop();
      await db.close();
    },
  };
}
