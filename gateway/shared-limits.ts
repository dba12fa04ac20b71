/**
 * Where the gateway counts its limits: the per-key rate limit, the failed-auth throttle per
 * client address, and the per-key caps on open graphql-ws connections and subscriptions.
 *
 * `memory` (GATEWAY_LIMITS_STORE=memory, the default and what `tickcast start` uses): each
 * replica counts alone, so N replicas allow N times each limit.
 *
 * `postgres`: every replica counts in the same PostgreSQL tables, so the limits hold across
 * replicas. The gateway creates its tables itself (CREATE TABLE IF NOT EXISTS, at start and
 * after an outage): they are the gateway's state, not the feature store's, and a gateway must
 * not wait for `tickcast migrate`.
 *   - rate limit: one token bucket row per key, taken by one atomic UPSERT that refills and
 *     takes in the same statement on the database's clock (replicas' clocks may differ). Kept
 *     a continuous token bucket like rate-limit.ts rather than RateLimiterPostgres, whose fixed
 *     windows change the limit's meaning (rate-limit.ts says how). One round trip per operation.
 *   - failed-auth throttle: rate-limiter-flexible's RateLimiterPostgres, the same fixed window
 *     as the memory store's.
 *   - caps: a lease row per open connection or subscription, with its replica and an expiry
 *     that the replica's heartbeat renews every third of GATEWAY_LIMITS_LEASE_TTL_MS. A crashed
 *     replica's leases stop counting once they expire; a closed one's are deleted. Acquiring
 *     serialises per key on a transaction-scoped advisory lock, counts the live leases and
 *     inserts only under the cap, so two replicas cannot both take the last slot.
 *
 * Fallback when PostgreSQL does not answer within GATEWAY_LIMITS_STORE_TIMEOUT_MS: the gateway
 * keeps serving with per-replica memory limits (the same ones `memory` uses), sets
 * tickcast_gateway_limits_degraded to 1, counts the failure, and logs once when it degrades and
 * once when it recovers. It tries PostgreSQL again after GATEWAY_LIMITS_STORE_RETRY_MS, so an
 * unreachable store costs one timeout per retry period, not one per request. Not
 * rate-limiter-flexible's insuranceLimiter: that retries the store on every call (a black-holed
 * store would add its timeout to every request) and says nothing when it switches. While
 * degraded the limits are per replica (a key may get up to N times its limit), and leases taken
 * meanwhile are written by the next heartbeat that reaches PostgreSQL, so the shared count
 * catches up with the connections that are really open.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../lib/logger.ts';
import type { GatewayConfig, LimitsStoreConfig } from './config.ts';
import { gatewayMetrics } from './metrics.ts';
import { RateLimiter, type TakeResult } from './rate-limit.ts';

/**
 * Counts of something a principal holds open (subscriptions, connections) in this process.
 * `tryAcquire` checks and counts in one synchronous step, so concurrent starts cannot
 * overshoot the limit.
 */
export class PerKeySlots {
  private readonly held = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** A release function, or undefined when `key` already holds `limit` slots. */
  tryAcquire(key: string): (() => void) | undefined {
    const count = this.held.get(key) ?? 0;
    if (count >= this.limit) return undefined;
    this.held.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(key) ?? 1) - 1;
      if (left > 0) this.held.set(key, left);
      else this.held.delete(key);
    };
  }

  count(key: string): number {
    return this.held.get(key) ?? 0;
  }
}

/** A per-key cap on things held open, wherever it is counted. */
export interface Slots {
  readonly limit: number;
  /** A release function, or undefined when `key` already holds `limit` slots. */
  tryAcquire(key: string): Promise<(() => void) | undefined>;
}

/** Failed authentications per client address, in fixed windows. */
export interface AuthFailures {
  /** The address's window, or null when it has none. */
  get(address: string): Promise<RateLimiterRes | null>;
  /** Counts one failed attempt. */
  penalty(address: string): Promise<void>;
}

export interface LimitsStore {
  readonly kind: LimitsStoreConfig['kind'];
  /** One token from `key`'s bucket. */
  take(key: string): Promise<TakeResult>;
  readonly authFailures: AuthFailures;
  readonly connectionSlots: Slots;
  readonly subscriptionSlots: Slots;
  close(): Promise<void>;
}

export interface LimitsStoreDeps {
  readonly logger: Logger;
  /** Monotonic milliseconds for the memory rate limiter (tests). */
  readonly now?: () => number;
}

type Limits = Pick<GatewayConfig, 'rateLimit' | 'authFailures' | 'subscriptions'>;

/** The per-replica limits: the `memory` store, and the `postgres` store's fallback. */
class MemoryLimits implements LimitsStore {
  readonly kind = 'memory';
  readonly limiter: RateLimiter;
  readonly authFailures: AuthFailures;
  readonly connectionSlots: Slots;
  readonly subscriptionSlots: Slots;
  readonly connections: PerKeySlots;
  readonly subscriptions: PerKeySlots;

  constructor(config: Limits, now?: () => number) {
    this.limiter = new RateLimiter({ ...config.rateLimit, ...(now ? { now } : {}) });
    // rate-limiter-flexible's memory store: a fixed window per address, entries expire with it.
    const failures = new RateLimiterMemory({
      keyPrefix: 'auth-failures',
      points: config.authFailures.perWindow,
      duration: config.authFailures.windowSeconds,
    });
    this.authFailures = {
      get: (address) => failures.get(address),
      penalty: async (address) => void (await failures.penalty(address, 1)),
    };
    this.connections = new PerKeySlots(config.subscriptions.connectionsPerKey);
    this.subscriptions = new PerKeySlots(config.subscriptions.perKey);
    this.connectionSlots = asyncSlots(this.connections);
    this.subscriptionSlots = asyncSlots(this.subscriptions);
  }

  take(key: string): Promise<TakeResult> {
    return Promise.resolve(this.limiter.take(key));
  }

  async close(): Promise<void> {}
}

function asyncSlots(slots: PerKeySlots): Slots {
  return { limit: slots.limit, tryAcquire: (key) => Promise.resolve(slots.tryAcquire(key)) };
}

export async function openLimitsStore(
  config: Limits & Pick<GatewayConfig, 'limitsStore'>,
  deps: LimitsStoreDeps,
): Promise<LimitsStore> {
  const memory = new MemoryLimits(config, deps.now);
  if (config.limitsStore.kind === 'memory') return memory;
  const store = new PostgresLimits(config, config.limitsStore, memory, deps.logger);
  await store.start();
  return store;
}

const TABLES = `
CREATE TABLE IF NOT EXISTS gateway_rate_buckets (
  key TEXT PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  -- milliseconds since the epoch on the database's clock
  updated_ms DOUBLE PRECISION NOT NULL,
  allowed BOOLEAN NOT NULL
);
-- RateLimiterPostgres's own table layout (its _getCreateTableStmt), created here so that a
-- store down at start-up is retried like the others.
CREATE TABLE IF NOT EXISTS gateway_auth_failures (
  key VARCHAR(255) PRIMARY KEY,
  points INTEGER NOT NULL DEFAULT 0,
  expire BIGINT
);
CREATE TABLE IF NOT EXISTS gateway_leases (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  principal TEXT NOT NULL,
  replica TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS gateway_leases_principal ON gateway_leases (kind, principal);
`;
/** Serialises concurrent CREATE TABLE IF NOT EXISTS of several replicas (it can fail with 23505 otherwise). */
const TABLES_LOCK_ID = 7_471_827; // arbitrary, fixed: "tickcast gateway limits"

// The refilled bucket, from the row's tokens and the time since its last take; written once
// per use below because UPDATE SET sees only the old row. $2 burst, $3 tokens per second, $4 cost.
const REFILLED = 'LEAST($2::float8, b.tokens + GREATEST(0, excluded.updated_ms - b.updated_ms) / 1000 * $3::float8)';
const TAKE = `
INSERT INTO gateway_rate_buckets AS b (key, tokens, updated_ms, allowed)
VALUES ($1, $2::float8 - $4::float8, EXTRACT(EPOCH FROM clock_timestamp()) * 1000, true)
ON CONFLICT (key) DO UPDATE SET
  tokens = ${REFILLED} - CASE WHEN ${REFILLED} >= $4::float8 THEN $4::float8 ELSE 0 END,
  allowed = ${REFILLED} >= $4::float8,
  updated_ms = excluded.updated_ms
RETURNING tokens, allowed`;

const ACQUIRE = `
INSERT INTO gateway_leases (id, kind, principal, replica, expires_at)
SELECT $1::text, $2::text, $3::text, $4::text, clock_timestamp() + $6::float8 * interval '1 millisecond'
WHERE (SELECT count(*) FROM gateway_leases
       WHERE kind = $2 AND principal = $3 AND expires_at > clock_timestamp()) < $5::int
RETURNING id`;

// Renews every lease this replica holds, writing again any the store lost or never had.
const RENEW = `
INSERT INTO gateway_leases (id, kind, principal, replica, expires_at)
SELECT id, kind, principal, $4::text, clock_timestamp() + $5::float8 * interval '1 millisecond'
FROM unnest($1::text[], $2::text[], $3::text[]) AS held(id, kind, principal)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`;

/** Rows removed per heartbeat at most, per table: the clean-up never holds the store long. */
const CLEANUP_BATCH = 10_000;

interface Lease {
  readonly kind: 'connection' | 'subscription';
  readonly principal: string;
}

class PostgresLimits implements LimitsStore {
  readonly kind = 'postgres';
  readonly authFailures: AuthFailures;
  readonly connectionSlots: Slots;
  readonly subscriptionSlots: Slots;
  /** This process's id in lease rows. */
  private readonly replica = randomUUID();
  private readonly pool: pg.Pool;
  private readonly log: Logger;
  /** Every lease this replica holds, shared or taken while degraded: what the heartbeat renews. */
  private readonly leases = new Map<string, Lease>();
  private readonly failures: RateLimiterPostgres;
  private tablesCreated = false;
  /** While Date.now() is before this, the store is not asked: limits are the memory ones. */
  private downUntil = 0;
  private degraded = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private heartbeatRunning: Promise<void> | undefined;

  constructor(
    private readonly config: Limits,
    private readonly store: Extract<LimitsStoreConfig, { kind: 'postgres' }>,
    private readonly memory: MemoryLimits,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'gateway-limits' });
    this.pool = new pg.Pool({
      connectionString: store.url,
      // Small (GATEWAY_LIMITS_POOL_SIZE, 4): a take is one short statement; a full pool queues,
      // bounded by the timeout below, after which the replica counts the store as down.
      max: store.poolSize,
      connectionTimeoutMillis: store.timeoutMs,
      query_timeout: store.timeoutMs,
      statement_timeout: store.timeoutMs,
      idleTimeoutMillis: 30_000,
    });
    this.pool.on('error', (error) => this.log.warn({ err: error }, 'idle limits store connection failed'));
    this.failures = new RateLimiterPostgres({
      storeClient: this.pool,
      storeType: 'pool',
      tableName: 'gateway_auth_failures',
      tableCreated: true,
      // Its own clean-up is an unbounded DELETE on a timer nothing stops; the heartbeat's is bounded.
      clearExpiredByTimeout: false,
      keyPrefix: 'auth-failures',
      points: config.authFailures.perWindow,
      duration: config.authFailures.windowSeconds,
    });
    this.authFailures = {
      get: (address) =>
        this.guarded(
          'auth_failures',
          () => this.failures.get(address),
          () => this.memory.authFailures.get(address),
        ),
      penalty: (address) =>
        this.guarded(
          'auth_failures',
          async () => void (await this.failures.penalty(address, 1)),
          () => this.memory.authFailures.penalty(address),
        ),
    };
    this.connectionSlots = this.slots('connection', this.memory.connections);
    this.subscriptionSlots = this.slots('subscription', this.memory.subscriptions);
  }

  async start(): Promise<void> {
    gatewayMetrics.limitsDegraded.set(0);
    // Down at start-up is degraded, not fatal: the gateway serves with per-replica limits.
    await this.guarded(
      'create_tables',
      () => this.ensureTables(),
      () => undefined,
    );
    const every = Math.max(250, Math.floor(this.store.leaseTtlMs / 3));
    this.heartbeat = setInterval(() => {
      this.heartbeatRunning ??= this.beat().finally(() => (this.heartbeatRunning = undefined));
    }, every);
    this.heartbeat.unref();
  }

  take(key: string): Promise<TakeResult> {
    return this.guarded(
      'rate_limit',
      async () => {
        const { burst, ratePerSecond } = this.config.rateLimit;
        const { rows } = await this.pool.query<{ tokens: number; allowed: boolean }>({
          name: 'gateway-limits-take',
          text: TAKE,
          values: [key, burst, ratePerSecond, 1],
        });
        const row = rows[0]!;
        return row.allowed
          ? { allowed: true, remaining: Math.floor(row.tokens) }
          : { allowed: false, retryAfterMs: Math.ceil(((1 - row.tokens) / ratePerSecond) * 1000) };
      },
      () => this.memory.limiter.take(key),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.heartbeatRunning;
    // Best effort: whatever is left expires anyway.
    if (this.tablesCreated && !this.isDown()) {
      await this.pool.query('DELETE FROM gateway_leases WHERE replica = $1', [this.replica]).catch(() => undefined);
    }
    await this.pool.end();
  }

  private slots(kind: Lease['kind'], local: PerKeySlots): Slots {
    return {
      limit: local.limit,
      tryAcquire: async (principal) => {
        // This replica alone at the cap: refused without a round trip.
        const releaseLocal = local.tryAcquire(principal);
        if (!releaseLocal) return undefined;
        const id = randomUUID();
        const acquired = await this.guarded(
          'lease',
          () => this.acquire(id, kind, principal, local.limit),
          () => true,
        );
        if (!acquired) {
          releaseLocal();
          return undefined;
        }
        this.leases.set(id, { kind, principal });
        let released = false;
        return () => {
          if (released) return;
          released = true;
          releaseLocal();
          this.leases.delete(id);
          // Not awaited (callers release from close handlers); a lease whose delete fails is
          // no longer renewed, so it expires.
          if (this.tablesCreated && !this.isDown()) {
            this.pool.query('DELETE FROM gateway_leases WHERE id = $1', [id]).catch((error: unknown) => {
              gatewayMetrics.limitsStoreErrors.inc({ operation: 'release' });
              this.log.debug({ err: error }, 'lease release failed; it expires');
            });
          }
        };
      },
    };
  }

  private async acquire(id: string, kind: Lease['kind'], principal: string, limit: number): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      // Two replicas counting at once would both see room for the last slot: one key's
      // acquisitions take turns. Released at COMMIT/ROLLBACK.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))', [`${kind}:${principal}`]);
      const { rowCount } = await client.query(ACQUIRE, [
        id,
        kind,
        principal,
        this.replica,
        limit,
        this.store.leaseTtlMs,
      ]);
      return rowCount === 1;
    });
  }

  private async ensureTables(): Promise<void> {
    if (this.tablesCreated) return;
    await inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [TABLES_LOCK_ID]);
      await client.query(TABLES);
    });
    this.tablesCreated = true;
  }

  /** Renews this replica's leases and removes what no longer counts. */
  private async beat(): Promise<void> {
    // A heartbeat is the store's retry too: it runs even while degraded, and its success ends it.
    this.downUntil = 0;
    await this.guarded(
      'heartbeat',
      async () => {
        await this.ensureTables();
        const held = [...this.leases];
        await this.pool.query(RENEW, [
          held.map(([id]) => id),
          held.map(([, lease]) => lease.kind),
          held.map(([, lease]) => lease.principal),
          this.replica,
          this.store.leaseTtlMs,
        ]);
        await this.pool.query(
          `DELETE FROM gateway_leases WHERE id IN
             (SELECT id FROM gateway_leases WHERE expires_at < clock_timestamp() LIMIT ${CLEANUP_BATCH})`,
        );
        // A bucket untouched for longer than it takes to refill is full: the row says nothing.
        const { burst, ratePerSecond } = this.config.rateLimit;
        await this.pool.query(
          `DELETE FROM gateway_rate_buckets WHERE key IN
             (SELECT key FROM gateway_rate_buckets
              WHERE updated_ms < EXTRACT(EPOCH FROM clock_timestamp()) * 1000 - $1::float8 LIMIT ${CLEANUP_BATCH})`,
          [(burst / ratePerSecond) * 1000],
        );
        await this.pool.query(
          `DELETE FROM gateway_auth_failures WHERE key IN
             (SELECT key FROM gateway_auth_failures WHERE expire < $1 LIMIT ${CLEANUP_BATCH})`,
          [Date.now()],
        );
      },
      () => undefined,
    );
  }

  private isDown(): boolean {
    return Date.now() < this.downUntil;
  }

  /** `shared` against PostgreSQL, or `local` while the store is down or when it fails. */
  private async guarded<T>(operation: string, shared: () => Promise<T>, local: () => T | Promise<T>): Promise<T> {
    if (this.isDown()) return local();
    try {
      if (!this.tablesCreated && operation !== 'create_tables') await this.ensureTables();
      const result = await shared();
      if (this.degraded) {
        this.degraded = false;
        gatewayMetrics.limitsDegraded.set(0);
        this.log.info('limits store answers again: limits are shared across gateway replicas');
      }
      return result;
    } catch (error) {
      gatewayMetrics.limitsStoreErrors.inc({ operation });
      this.downUntil = Date.now() + this.store.retryMs;
      if (!this.degraded) {
        this.degraded = true;
        gatewayMetrics.limitsDegraded.set(1);
        this.log.warn(
          { err: error, operation, retryMs: this.store.retryMs },
          'limits store unreachable: DEGRADED to per-replica limits until it answers',
        );
      }
      return local();
    }
  }
}

/** Runs `work` in a transaction on one pooled connection; one that failed mid-transaction is not given back to the pool. */
async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    broken = true;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release(broken);
  }
}
