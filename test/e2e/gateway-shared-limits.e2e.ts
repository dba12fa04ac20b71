/**
 * Two gateway replicas (two in-process gateways) sharing one PostgreSQL schema
 * (GATEWAY_LIMITS_STORE=postgres) enforce one key's limits together: N allowed in total, not
 * 2N, for the rate limit, the failed-auth throttle, the connection cap and the subscription
 * cap, even when both take a key's last slots at the same moment; a crashed replica's leases
 * stop counting when they expire, a live replica's are renewed, a socket gone while its slot
 * was being taken leaves none. PostgreSQL that stops answering mid-run, or a third gateway
 * pointed at a closed port, means per-replica limits and a gateway that keeps serving.
 * No subgraph runs: `{ __typename }` is answered by the gateway itself, every limit is checked
 * before anything reaches a subgraph, and an accepted subscription stays open while the gateway
 * retries its unreachable subgraph.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { generateApiKey } from '../../gateway/auth.ts';
import { gatewayConfigFromEnv } from '../../gateway/config.ts';
import { createGateway, type RunningGateway } from '../../gateway/server.ts';
import { openLimitsStore } from '../../gateway/shared-limits.ts';
import { TOO_MANY_REQUESTS_CLOSE } from '../../gateway/subscriptions/server.ts';
import { loadConfig } from '../../lib/config.ts';
import { metricValue } from '../../lib/metrics.ts';
import { freePort } from '../support/ports.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const BURST = 20;
const AUTH_FAILURES = 3;
const CONNECTIONS = 3;
const SUBSCRIPTIONS = 3;
const LEASE_TTL_MS = 1_500;
const key = generateApiKey('shared', ['read']);
// Its own rate bucket, connections and subscriptions: untouched by the other tests' key.
const subscriber = generateApiKey('subscriber', ['read']);

const limitsEnv = {
  GATEWAY_PORT: '0',
  GATEWAY_API_KEYS: `${key.entry},${subscriber.entry}`,
  GATEWAY_LIMITS_STORE: 'postgres',
  GATEWAY_LIMITS_LEASE_TTL_MS: String(LEASE_TTL_MS),
  GATEWAY_RATE_LIMIT_BURST: String(BURST),
  // One token per 1,000 s: nothing refills while the test runs.
  GATEWAY_RATE_LIMIT_PER_SECOND: '0.001',
  GATEWAY_AUTH_FAILURES_PER_MINUTE: String(AUTH_FAILURES),
  GATEWAY_WS_CONNECTIONS_PER_KEY: String(CONNECTIONS),
  GATEWAY_SUBSCRIPTIONS_PER_KEY: String(SUBSCRIPTIONS),
  GATEWAY_DASHBOARD: 'false',
  GATEWAY_LANDING_PAGE: 'false',
};

let iso: Isolation;
let replicas: RunningGateway[] = [];

async function startReplica(env: Record<string, string>): Promise<RunningGateway> {
  return createGateway(await gatewayConfigFromEnv(loadConfig(env)), { logger: testLogger });
}

before(async () => {
  iso = await isolate('sharedlimits');
  // Nothing listens there: accepted subscriptions wait for it (reconnecting) and stay open.
  const predictions = `http://127.0.0.1:${await freePort()}/graphql`;
  replicas = await Promise.all(
    [1, 2].map(() => startReplica({ ...iso.env, ...limitsEnv, SUBGRAPH_PREDICTIONS_URL: predictions })),
  );
});

after(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await iso?.close();
});

async function post(url: string, headers: Record<string, string>): Promise<{ status: number; codes: unknown[] }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ __typename }' }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { errors?: { extensions?: { code?: unknown } }[] };
  return { status: response.status, codes: (body.errors ?? []).map((e) => e.extensions?.code) };
}

/** Opens a graphql-ws connection: the open socket once acknowledged, or the close code it got instead. */
function connect(
  url: string,
  apiKey = key.key,
): Promise<{ socket: WebSocket; acked: true } | { code: number; acked: false }> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', {
    headers: { 'x-api-key': apiKey },
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
    socket.once('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string };
      if (message.type === 'connection_ack') resolve({ socket, acked: true });
      else reject(new Error(`unexpected ${message.type}`));
    });
    socket.once('close', (code) => resolve({ code, acked: false }));
    socket.once('error', reject);
  });
}

function close(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.close();
  });
}

const leases = async (kind: 'connection' | 'subscription' = 'connection') =>
  (
    await iso.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM gateway_leases WHERE kind = $1 AND expires_at > clock_timestamp()',
      [kind],
    )
  ).rows[0]!.n;

/**
 * Subscriptions over one acknowledged graphql-ws connection, spoken by hand so that several
 * can be started at once. A refused one gets an `error` message; an accepted one gets nothing
 * (its subgraph is down and the gateway keeps retrying it) until it is completed.
 */
class Subscriptions {
  /** The first error code per operation id that was refused. */
  readonly refused = new Map<string, unknown>();
  private next = 0;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { id?: string; type: string; payload?: unknown };
      if (message.type === 'error' && message.id) {
        this.refused.set(message.id, (message.payload as { extensions?: { code?: unknown } }[])[0]?.extensions?.code);
      }
    });
  }

  start(): string {
    const id = `s${++this.next}`;
    this.socket.send(
      JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { predictionCreated { id } }' } }),
    );
    return id;
  }

  complete(id: string): void {
    this.socket.send(JSON.stringify({ id, type: 'complete' }));
  }
}

describe('gateway limits shared through PostgreSQL', () => {
  it('two replicas allow one key its burst in total, not twice', async (t) => {
    const [a, b] = replicas as [RunningGateway, RunningGateway];
    const replies = await Promise.all(
      Array.from({ length: 2 * BURST }, (_, i) => post((i % 2 ? a : b).url, { 'x-api-key': key.key })),
    );
    const ok = replies.filter((r) => r.status === 200);
    const limited = replies.filter((r) => r.status === 429);
    assert.equal(ok.length, BURST, 'allowed over both replicas');
    assert.equal(limited.length, BURST);
    assert.ok(limited.every((r) => r.codes[0] === 'RATE_LIMITED'));
    assert.deepEqual(
      ok.map((r) => r.codes),
      ok.map(() => []),
    );
    assert.equal(await metricValue('tickcast_gateway_limits_degraded'), 0);

    // The cost a shared take adds over the in-process bucket, sequentially, one key per take.
    for (const kind of ['memory', 'postgres'] as const) {
      const store = await openLimitsStore(
        await gatewayConfigFromEnv(loadConfig({ ...iso.env, ...limitsEnv, GATEWAY_LIMITS_STORE: kind })),
        { logger: testLogger },
      );
      const takes = 500;
      const started = performance.now();
      for (let i = 0; i < takes; i++) await store.take(`bench-${i % 50}`);
      t.diagnostic(`${kind}: ${(((performance.now() - started) / takes) * 1000).toFixed(1)} µs per take`);
      await store.close();
    }
  });

  it('two replicas hold one key to its connection cap in total, and a closed connection frees its slot on either', async () => {
    const [a, b] = replicas as [RunningGateway, RunningGateway];
    // At once, so the replicas race for the last slots.
    const attempts = await Promise.all(Array.from({ length: 8 }, (_, i) => connect((i % 2 ? a : b).url)));
    const open = attempts.flatMap((r) => (r.acked ? [r.socket] : []));
    const refused = attempts.flatMap((r) => (r.acked ? [] : [r.code]));
    assert.equal(open.length, CONNECTIONS, 'connections accepted over both replicas');
    assert.deepEqual(refused, Array<number>(8 - CONNECTIONS).fill(TOO_MANY_REQUESTS_CLOSE));
    assert.equal(await leases(), CONNECTIONS);

    // Held longer than a lease lives: the heartbeat renews them, so they still count.
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_TTL_MS));
    assert.equal(await leases(), CONNECTIONS, 'renewed by the heartbeat');
    assert.equal((await connect(a.url)).acked, false, 'still at the cap');

    await close(open.pop()!);
    await waitFor('the closed connection to release its lease', async () => (await leases()) < CONNECTIONS, 5_000, 20);
    const again = await Promise.all([connect(a.url), connect(b.url)]);
    assert.deepEqual(again.map((r) => r.acked).sort(), [false, true], 'one of the two takes the freed slot');
    for (const r of again) if (r.acked) open.push(r.socket);
    await Promise.all(open.map(close));
    await waitFor('every lease released', async () => (await leases()) === 0, 5_000, 20);
  });

  it('a connection closed while its slot is being taken in PostgreSQL leaves no lease behind', async () => {
    const [a, b] = replicas as [RunningGateway, RunningGateway];
    // Closed right after connection_init: the gateway is still authenticating or taking the
    // slot (each a round trip to PostgreSQL) when the socket goes.
    await Promise.all(
      Array.from(
        { length: 6 },
        (_, i) =>
          new Promise<void>((resolve, reject) => {
            const socket = new WebSocket((i % 2 ? a : b).url.replace(/^http/, 'ws'), 'graphql-transport-ws', {
              headers: { 'x-api-key': key.key },
            });
            socket.once('open', () => {
              socket.send(JSON.stringify({ type: 'connection_init' }));
              socket.close();
            });
            socket.once('close', () => resolve());
            socket.once('error', reject);
          }),
      ),
    );
    // A slot taken for a socket already gone would be renewed by its replica's heartbeat
    // forever: after two lease lifetimes only such leftovers are left.
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_TTL_MS));
    assert.equal(await leases(), 0);
    const all = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => connect((i % 2 ? a : b).url)));
    assert.equal(all.filter((r) => r.acked).length, CONNECTIONS, 'the whole cap is free');
    await Promise.all(all.map((r) => (r.acked ? close(r.socket) : undefined)));
    await waitFor('every lease released', async () => (await leases()) === 0, 5_000, 20);
  });

  it("a crashed replica's leases stop counting when they expire", async () => {
    const [a] = replicas as [RunningGateway];
    // What a replica killed with its connections open leaves behind: leases nobody renews
    // (the principal of API key `shared` is `key:shared`).
    await iso.pool.query(
      `INSERT INTO gateway_leases (id, kind, principal, replica, expires_at)
       SELECT 'dead-' || i, 'connection', 'key:shared', 'dead-replica', clock_timestamp() + interval '1500 milliseconds'
       FROM generate_series(1, $1) AS i`,
      [CONNECTIONS],
    );
    const refused = await connect(a.url);
    assert.equal(
      refused.acked ? 'acked' : refused.code,
      TOO_MANY_REQUESTS_CLOSE,
      'the dead leases count until they expire',
    );
    await waitFor('the dead leases to expire', async () => (await leases()) === 0, 5_000, 50);
    const accepted = await connect(a.url);
    assert.ok(accepted.acked, 'accepted once they expired');
    await close(accepted.socket);
  });
  it('two replicas hold one key to its subscription cap in total, and an ended subscription frees its slot on either', async () => {
    const sides = await Promise.all(
      replicas.map(async (replica) => {
        const connected = await connect(replica.url, subscriber.key);
        assert.ok(connected.acked, 'one connection per replica, under the connection cap');
        return new Subscriptions(connected.socket);
      }),
    );
    const [a, b] = sides as [Subscriptions, Subscriptions];
    // At once, over both replicas, so they race for the last slots.
    const started = Array.from({ length: 2 * SUBSCRIPTIONS }, (_, i) => {
      const side = i % 2 ? a : b;
      return { side, id: side.start() };
    });
    const refusals = () => a.refused.size + b.refused.size;
    await waitFor('the subscriptions over the cap refused', async () => refusals() >= SUBSCRIPTIONS, 10_000, 20);
    await waitFor(
      'the accepted subscriptions leased',
      async () => (await leases('subscription')) >= SUBSCRIPTIONS,
      10_000,
      20,
    );
    assert.equal(refusals(), SUBSCRIPTIONS, 'refused over both replicas');
    assert.deepEqual(
      [...a.refused.values(), ...b.refused.values()],
      Array<string>(SUBSCRIPTIONS).fill('TOO_MANY_SUBSCRIPTIONS'),
    );
    assert.equal(await leases('subscription'), SUBSCRIPTIONS, 'accepted over both replicas');
    const open = started.filter(({ side, id }) => !side.refused.has(id));

    // An ended subscription's slot is free at once (its lease deleted, well before it would
    // expire), and the other replica takes it; then the other way round.
    let held = open[0]!;
    for (let round = 0; round < 2; round++) {
      const other = held.side === a ? b : a;
      held.side.complete(held.id);
      await waitFor(
        'the ended subscription to release its lease',
        async () => (await leases('subscription')) < SUBSCRIPTIONS,
        LEASE_TTL_MS / 2,
        10,
      );
      const id = other.start();
      await waitFor(
        'the new subscription leased',
        async () => (await leases('subscription')) === SUBSCRIPTIONS,
        5_000,
        20,
      );
      assert.equal(other.refused.has(id), false, 'the freed slot is taken on the other replica');
      held = { side: other, id };
    }
    const over = a.start();
    await waitFor('one more refused', async () => a.refused.has(over), 10_000, 20);
    assert.equal(a.refused.get(over), 'TOO_MANY_SUBSCRIPTIONS', 'still at the cap after the swaps');

    await Promise.all(sides.map((side) => close(side.socket)));
    await waitFor('every subscription lease released', async () => (await leases('subscription')) === 0, 5_000, 20);

    // Everything ended on both: one replica alone may now hold the whole cap (neither kept a
    // count of its own for the subscriptions that ended on it).
    for (const replica of replicas) {
      const connected = await connect(replica.url, subscriber.key);
      assert.ok(connected.acked);
      const alone = new Subscriptions(connected.socket);
      for (let i = 0; i <= SUBSCRIPTIONS; i++) alone.start();
      await waitFor('the one over the cap refused', async () => alone.refused.size > 0, 10_000, 20);
      await waitFor('the rest leased', async () => (await leases('subscription')) >= SUBSCRIPTIONS, 10_000, 20);
      assert.deepEqual(
        [...alone.refused.values()],
        ['TOO_MANY_SUBSCRIPTIONS'],
        `${replica.url}: the cap, on one replica`,
      );
      assert.equal(await leases('subscription'), SUBSCRIPTIONS);
      await close(alone.socket);
      await waitFor('its leases released', async () => (await leases('subscription')) === 0, 5_000, 20);
    }
  });

  it("two replicas taking a key's last slots at the same moment never overshoot its cap", async () => {
    // The stores the two gateways run on, without the gateways: every acquisition reaches
    // PostgreSQL at once (each replica's pool is 4 connections), and only the per-key lock
    // keeps two counts from both seeing room for the same slot.
    const cap = 5;
    const config = await gatewayConfigFromEnv(
      loadConfig({ ...iso.env, ...limitsEnv, GATEWAY_SUBSCRIPTIONS_PER_KEY: String(cap) }),
    );
    const leaseErrors = () => metricValue('tickcast_gateway_limits_store_errors_total', { operation: 'lease' });
    const errorsBefore = await leaseErrors();
    const stores = await Promise.all([1, 2].map(() => openLimitsStore(config, { logger: testLogger })));
    try {
      for (let round = 0; round < 10; round++) {
        const principal = `key:race-${round}`;
        const taken = await Promise.all(
          stores.flatMap((store) => Array.from({ length: cap }, () => store.subscriptionSlots.tryAcquire(principal))),
        );
        assert.equal(taken.filter(Boolean).length, cap, `round ${round}: slots taken over both replicas`);
        for (const release of taken) release?.();
      }
      assert.equal(await leaseErrors(), errorsBefore, 'every acquisition was answered by PostgreSQL');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('a store that stops answering mid-run costs a timeout, never an error: per-replica limits until it answers again', async () => {
    const [a] = replicas as [RunningGateway];
    // The shared bucket of `shared` emptied (nothing refills while the test runs): a 200 can
    // only come from the replica's own bucket, a 429 from the shared one.
    await iso.pool.query(
      `INSERT INTO gateway_rate_buckets (key, tokens, updated_ms, allowed)
       VALUES ('key:shared', 0, EXTRACT(EPOCH FROM clock_timestamp()) * 1000, false)
       ON CONFLICT (key) DO UPDATE SET tokens = 0, updated_ms = excluded.updated_ms`,
    );
    assert.equal((await post(a.url, { 'x-api-key': key.key })).status, 429);
    const errorsBefore = await metricValue('tickcast_gateway_limits_store_errors_total', { operation: 'rate_limit' });
    // PostgreSQL up but not answering the gateway: its takes wait on this lock until they time out.
    const locker = await iso.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE gateway_rate_buckets IN ACCESS EXCLUSIVE MODE');
      const started = performance.now();
      const reply = await post(a.url, { 'x-api-key': key.key });
      const elapsedMs = performance.now() - started;
      assert.deepEqual(reply, { status: 200, codes: [] }, "served on the replica's own bucket");
      assert.ok(elapsedMs < 3_000, `one store timeout (1 s), not more: ${elapsedMs.toFixed(0)} ms`);
      assert.equal(await metricValue('tickcast_gateway_limits_degraded'), 1);
      assert.ok(
        (await metricValue('tickcast_gateway_limits_store_errors_total', { operation: 'rate_limit' })) > errorsBefore,
      );
      // Degraded: the next requests do not try the store (a try would wait on the lock until it
      // timed out, and count an error). Counted rather than timed: a loaded CI machine stretched
      // a local answer past a 500 ms bound.
      const errorsDegraded = await metricValue('tickcast_gateway_limits_store_errors_total', {
        operation: 'rate_limit',
      });
      assert.equal((await post(a.url, { 'x-api-key': key.key })).status, 200);
      assert.equal(
        await metricValue('tickcast_gateway_limits_store_errors_total', { operation: 'rate_limit' }),
        errorsDegraded,
        'no store try while degraded',
      );
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    // The heartbeat finds PostgreSQL answering again: the shared, empty bucket counts again.
    await waitFor(
      'the store to count again',
      async () => (await metricValue('tickcast_gateway_limits_degraded')) === 0,
      10_000,
      50,
    );
    await waitFor(
      'the shared bucket to refuse again',
      async () => (await post(a.url, { 'x-api-key': key.key })).status === 429,
      10_000,
      100,
    );
  });

  // Last: the throttled address is every other test's too (127.0.0.1).
  it('two replicas throttle one address after its failed authentications in total', async () => {
    const [a, b] = replicas as [RunningGateway, RunningGateway];
    const codes: unknown[] = [];
    for (let i = 0; i < 2 * AUTH_FAILURES; i++) {
      codes.push((await post((i % 2 ? a : b).url, { 'x-api-key': 'not-a-key' })).codes[0]);
    }
    assert.deepEqual(codes, [
      ...Array<string>(AUTH_FAILURES).fill('UNAUTHENTICATED'),
      ...Array<string>(AUTH_FAILURES).fill('AUTH_THROTTLED'),
    ]);
  });
});

describe('gateway limits when PostgreSQL is unreachable', () => {
  it('falls back to per-replica limits, says so, and keeps serving', async () => {
    const closedPort = await freePort();
    const errorsBefore = await metricValue('tickcast_gateway_limits_store_errors_total', {
      operation: 'create_tables',
    });
    const degraded = await startReplica({
      ...iso.env,
      ...limitsEnv,
      DATABASE_URL: `postgres://tickcast@127.0.0.1:${closedPort}/tickcast`,
    });
    try {
      assert.equal(await metricValue('tickcast_gateway_limits_degraded'), 1);
      assert.equal(
        await metricValue('tickcast_gateway_limits_store_errors_total', { operation: 'create_tables' }),
        errorsBefore + 1,
      );
      const statuses: number[] = [];
      for (let i = 0; i <= BURST; i++) statuses.push((await post(degraded.url, { 'x-api-key': key.key })).status);
      assert.deepEqual(statuses, [...Array<number>(BURST).fill(200), 429], "this replica's own bucket still limits");
      const connections = await Promise.all(Array.from({ length: CONNECTIONS + 1 }, () => connect(degraded.url)));
      assert.equal(connections.filter((r) => r.acked).length, CONNECTIONS, "this replica's own cap still holds");
      await Promise.all(connections.map((r) => (r.acked ? close(r.socket) : undefined)));
    } finally {
      await degraded.stop();
    }
  });
});
