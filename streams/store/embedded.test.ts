import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../lib/logger.ts';
import type { Candle } from '../../schema/events.ts';
import { openDatabase } from './database.ts';
import { readdir } from 'node:fs/promises';
import { migrate, POSTGRES_MIGRATIONS } from './migrate.ts';
import { readCandles, upsertCandles } from './feature-store.ts';

const logger = createLogger('silent');

const candle = (openTime: number, close: number): Candle => ({
  v: 1,
  pair: 'BTC/USD',
  interval: '1m',
  openTime,
  closeTime: openTime + 60_000,
  open: 28_254.8,
  high: 28_260.9,
  low: 28_239.8,
  close,
  volume: 3.96893978,
  quoteVolume: 112_000.5,
  vwap: 28_248.4,
  tradeCount: 42,
  flat: false,
  final: true,
});

describe('embedded feature store (PGlite behind the Postgres wire protocol)', () => {
  it('runs the same migrations and upserts as PostgreSQL', async () => {
    const database = await openDatabase(
      {
        url: undefined,
        embeddedDataDir: 'memory://',
        poolSize: 5,
        connectTimeoutMs: 5_000,
        idleTimeoutMs: 30_000,
        statementTimeoutMs: 30_000,
        queryTimeoutMs: 35_000,
      },
      logger,
    );
    try {
      assert.equal(database.kind, 'embedded');
      // Every PostgreSQL migration applies on PGlite too.
      const files = (await readdir(POSTGRES_MIGRATIONS)).filter((f) => f.endsWith('.sql')).sort();
      assert.ok(files.length >= 3);
      assert.deepEqual(await migrate(database.pool, logger), files);
      assert.deepEqual(await migrate(database.pool, logger), [], 'a second run applies nothing');
      const t0 = Date.UTC(2023, 3, 4);
      await upsertCandles(database.pool, [candle(t0, 28_239.8), candle(t0 + 60_000, 28_240)]);
      // A re-delivered candle rewrites its row instead of adding one.
      await upsertCandles(database.pool, [candle(t0, 28_239.9)]);
      const rows = await readCandles(database.pool, { pair: 'BTC/USD', interval: '1m', from: t0, to: t0 + 120_000 });
      assert.deepEqual(
        rows.map((r) => [r.openTime - t0, r.close, r.volume, r.tradeCount]),
        [
          [0, 28_239.9, 3.96893978, 42],
          [60_000, 28_240, 3.96893978, 42],
        ],
      );
    } finally {
      await database.close();
    }
  });
  it('queues a query behind a long one on its single connection beyond the connect timeout, within the query timeout', async () => {
    const database = await openDatabase(
      {
        url: undefined,
        embeddedDataDir: 'memory://',
        poolSize: 5,
        connectTimeoutMs: 200,
        idleTimeoutMs: 30_000,
        statementTimeoutMs: 30_000,
        queryTimeoutMs: 10_000,
      },
      logger,
    );
    try {
      // The one client is busy for longer than the connect timeout: the second query waits for it.
      const busy = database.pool.query('SELECT pg_sleep(0.6)');
      const queued = await database.pool.query<{ one: number }>('SELECT 1 AS one');
      assert.equal(queued.rows[0]?.one, 1);
      await busy;
    } finally {
      await database.close();
    }
  });
});
