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
}

// NUMERIC comes back as a string by default; the store only holds values that are
// exact as JavaScript numbers (prices to the exchange tick, volumes to 1e-8).
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export async function openDatabase(config: DatabaseConfig, logger: Logger): Promise<Database> {
  if (config.url) {
    const pool = new pg.Pool({ connectionString: config.url, max: config.poolSize });
    pool.on('error', (error) => logger.warn({ err: error }, 'idle feature store connection failed'));
    return { pool, kind: 'postgres', url: config.url, close: () => pool.end() };
  }
  return openEmbedded(config.embeddedDataDir, logger);
}

async function openEmbedded(dataDir: string, logger: Logger): Promise<Database> {
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
  // PGlite is a single connection: one pooled client keeps every query on it.
  const pool = new pg.Pool({ connectionString: url, max: 1 });
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
