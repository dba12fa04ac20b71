import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createLogger } from '../lib/logger.ts';
import { metricValue } from '../lib/metrics.ts';
import { openDatabase, type Database } from '../streams/store/database.ts';
import type { GatewayConfig, LimitsStoreConfig } from './config.ts';
import { openLimitsStore, type LimitsStore } from './shared-limits.ts';

const logger = createLogger(process.env['LOG_LEVEL'] ?? 'silent');

function limits(limitsStore: LimitsStoreConfig) {
  return {
    rateLimit: { ratePerSecond: 0.001, burst: 3 },
    authFailures: { perWindow: 2, windowSeconds: 60 },
    subscriptions: { perKey: 2, connectionsPerKey: 1 } as GatewayConfig['subscriptions'],
    limitsStore,
  };
}

/** A port nothing listens on: connecting is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const allowed = async (store: LimitsStore, key: string, n: number) => {
  const results: boolean[] = [];
  for (let i = 0; i < n; i++) results.push((await store.take(key)).allowed);
  return results;
};

describe('limits store: memory', () => {
  it('limits each key in this process: bucket, failed authentications, caps', async () => {
    const store = await openLimitsStore(limits({ kind: 'memory' }), { logger });
    assert.deepEqual(await allowed(store, 'k', 4), [true, true, true, false]);
    assert.deepEqual(await allowed(store, 'other', 1), [true]);
    await store.authFailures.penalty('10.0.0.1');
    assert.equal((await store.authFailures.get('10.0.0.1'))?.consumedPoints, 1);
    const first = await store.connectionSlots.tryAcquire('k');
    assert.ok(first);
    assert.equal(await store.connectionSlots.tryAcquire('k'), undefined, 'one connection per key');
    first();
    assert.ok(await store.connectionSlots.tryAcquire('k'), 'free again once released');
    assert.ok(await store.subscriptionSlots.tryAcquire('k'));
    assert.ok(await store.subscriptionSlots.tryAcquire('k'));
    assert.equal(await store.subscriptionSlots.tryAcquire('k'), undefined, 'two subscriptions per key');
    await store.close();
  });
});

describe('limits store: postgres unreachable', () => {
  const stores: LimitsStore[] = [];
  after(async () => {
    for (const store of stores) await store.close();
  });

  it('starts degraded, serves every limit per replica, and asks the store again only after the retry period', async () => {
    const retryMs = 300;
    const operations = ['create_tables', 'rate_limit', 'auth_failures', 'lease', 'heartbeat', 'release'];
    const errors = async () => {
      let sum = 0;
      for (const operation of operations) {
        sum += await metricValue('tickcast_gateway_limits_store_errors_total', { operation });
      }
      return sum;
    };
    const before = await errors();
    const store = await openLimitsStore(
      limits({
        kind: 'postgres',
        url: `postgres://tickcast@127.0.0.1:${await closedPort()}/tickcast`,
        timeoutMs: 250,
        retryMs,
        poolSize: 4,
        leaseTtlMs: 30_000,
      }),
      { logger },
    );
    stores.push(store);
    assert.equal(store.kind, 'postgres');
    assert.equal(await metricValue('tickcast_gateway_limits_degraded'), 1);
    assert.equal(await errors(), before + 1, 'the failed start counts once');

    assert.deepEqual(await allowed(store, 'k', 4), [true, true, true, false], "this replica's bucket limits");
    await store.authFailures.penalty('10.0.0.1');
    await store.authFailures.penalty('10.0.0.1');
    assert.equal((await store.authFailures.get('10.0.0.1'))?.consumedPoints, 2);
    const connection = await store.connectionSlots.tryAcquire('k');
    assert.ok(connection);
    assert.equal(await store.connectionSlots.tryAcquire('k'), undefined, "this replica's cap holds");
    connection();
    assert.equal(await errors(), before + 1, 'not asked again within the retry period');

    await new Promise((resolve) => setTimeout(resolve, retryMs + 50));
    assert.deepEqual(await allowed(store, 'k', 1), [false], 'still the same bucket after a failed retry');
    assert.equal(await errors(), before + 2, 'asked once more after the retry period');
    assert.equal(await metricValue('tickcast_gateway_limits_degraded'), 1);
  });
});

describe('limits store: postgres (PGlite)', () => {
  let database: Database | undefined;
  let store: LimitsStore | undefined;
  after(async () => {
    await store?.close();
    await database?.close();
  });

  it("runs every limit's SQL: bucket refill and Retry-After, failed-auth window, leases", async () => {
    database = await openDatabase(
      {
        url: undefined,
        embeddedDataDir: 'memory://',
        poolSize: 1,
        connectTimeoutMs: 5_000,
        idleTimeoutMs: 30_000,
        statementTimeoutMs: 30_000,
        queryTimeoutMs: 35_000,
      },
      logger,
    );
    // PGlite serves one connection at a time: the store's pool is its only client (the
    // database's own pool connects on first use, never here).
    const config = limits({
      kind: 'postgres',
      url: database.url,
      timeoutMs: 10_000,
      retryMs: 60_000,
      poolSize: 4,
      leaseTtlMs: 30_000,
    });
    store = await openLimitsStore(
      { ...config, rateLimit: { ratePerSecond: 1, burst: 3 } },
      { logger, now: () => 0 }, // the memory fallback's clock stands still: a refill can only come from SQL
    );
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await store.take('k'));
    assert.deepEqual(
      results.map((r) => r.allowed),
      [true, true, true, false],
    );
    const refused = results[3]!;
    assert.ok(!refused.allowed && refused.retryAfterMs > 900 && refused.retryAfterMs <= 1_000, 'one token per second');
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    assert.equal((await store.take('k')).allowed, true, 'refilled on the database clock');

    await store.authFailures.penalty('10.0.0.1');
    await store.authFailures.penalty('10.0.0.1');
    assert.equal((await store.authFailures.get('10.0.0.1'))?.consumedPoints, 2);

    const first = await store.subscriptionSlots.tryAcquire('k');
    const second = await store.subscriptionSlots.tryAcquire('k');
    assert.ok(first && second);
    assert.equal(await store.subscriptionSlots.tryAcquire('k'), undefined, 'two subscriptions per key');
    first();
    // The release's DELETE is not awaited; PGlite would refuse the second connection the next
    // acquire opened while it runs.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(await store.subscriptionSlots.tryAcquire('k'), 'free again once released');
    assert.equal(await metricValue('tickcast_gateway_limits_degraded'), 0, 'every answer came from SQL');
  });
});
