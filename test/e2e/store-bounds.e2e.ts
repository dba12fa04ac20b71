/**
 * The feature store's pool against the real PostgreSQL and against a server that never
 * answers: a runaway statement is cancelled by the server and its connection reused, a
 * query without an answer fails on the client, and a connect to a black hole fails
 * within the connect timeout instead of hanging its caller.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { openDatabase, type Database, type DatabaseConfig } from '../../streams/store/database.ts';
import { requireServices, testLogger } from '../support/services.ts';

const BOUNDS: Omit<DatabaseConfig, 'url'> = {
  embeddedDataDir: 'memory://',
  poolSize: 2,
  connectTimeoutMs: 500,
  idleTimeoutMs: 1_000,
  statementTimeoutMs: 300,
  queryTimeoutMs: 5_000,
};

async function elapsed<T>(fn: () => Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await fn();
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('feature store pool bounds (real PostgreSQL)', () => {
  const { databaseUrl } = requireServices();
  let database: Database;

  before(async () => {
    database = await openDatabase({ ...BOUNDS, url: databaseUrl }, testLogger);
  });
  after(() => database.close());

  it('cancels a statement over DATABASE_STATEMENT_TIMEOUT_MS with SQLSTATE 57014, and the pool stays usable', async () => {
    const { ms, error } = await elapsed(() => database.pool.query('SELECT pg_sleep(5)'));
    assert.ok(error instanceof Error, 'the sleep must fail');
    assert.equal((error as { code?: string }).code, '57014');
    assert.match(error.message, /statement timeout/);
    assert.ok(ms < 2_000, `cancelled after ${Math.round(ms)} ms`);
    // Both connections of the pool serve again (the cancelled one included).
    const answers = await Promise.all(
      [1, 2, 3, 4].map((n) => database.pool.query<{ n: number }>('SELECT $1::int AS n', [n])),
    );
    assert.deepEqual(
      answers.map((a) => a.rows[0]?.n),
      [1, 2, 3, 4],
    );
    assert.equal((await database.pool.query('SHOW statement_timeout')).rows[0]?.statement_timeout, '300ms');
  });

  it('fails a query the server does not answer within DATABASE_QUERY_TIMEOUT_MS on the client', async () => {
    const patient = await openDatabase(
      { ...BOUNDS, url: databaseUrl, statementTimeoutMs: 10_000, queryTimeoutMs: 300 },
      testLogger,
    );
    try {
      const { ms, error } = await elapsed(() => patient.pool.query('SELECT pg_sleep(3)'));
      assert.ok(error instanceof Error, 'the sleep must fail');
      assert.match(error.message, /Query read timeout/);
      assert.ok(ms < 2_000, `gave up after ${Math.round(ms)} ms`);
      assert.equal((await patient.pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
    } finally {
      await patient.close();
    }
  });

  it('fails a wait for a pooled connection within DATABASE_CONNECT_TIMEOUT_MS when all are busy', async () => {
    const busy = await Promise.all([database.pool.connect(), database.pool.connect()]);
    try {
      const { ms, error } = await elapsed(() => database.pool.query('SELECT 1'));
      assert.ok(error instanceof Error, 'a third query must not wait forever');
      assert.match(error.message, /timeout/i);
      assert.ok(ms >= 400 && ms < 2_000, `gave up after ${Math.round(ms)} ms`);
    } finally {
      for (const client of busy) client.release();
    }
  });
});

describe('feature store pool bounds (a server that accepts and never speaks)', () => {
  let blackHole: Server;
  const sockets = new Set<Socket>();
  let port = 0;

  before(async () => {
    blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    port = (blackHole.address() as { port: number }).port;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => blackHole.close(() => resolve()));
  });

  it('fails the connect within DATABASE_CONNECT_TIMEOUT_MS', async () => {
    const database = await openDatabase(
      { ...BOUNDS, url: `postgres://tickcast@127.0.0.1:${port}/tickcast` },
      testLogger,
    );
    try {
      const { ms, error } = await elapsed(() => database.pool.query('SELECT 1'));
      assert.ok(error instanceof Error, 'the connect must fail');
      assert.match(error.message, /timeout/i);
      assert.ok(ms >= 400 && ms < 2_000, `gave up after ${Math.round(ms)} ms`);
    } finally {
      await database.close();
    }
  });
});
