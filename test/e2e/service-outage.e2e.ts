/**
 * Kafka and PostgreSQL stopped and restarted (`scripts/services down|up <name>`, on the
 * ports and state dirs its environment names) while a real day of BTC/USD flows through the
 * candles, indicators and store-writer processors, each its own `tickcast stream` process.
 * While a service is down each process's /ready answers 503 naming it; each process either
 * keeps running and is ready again afterwards, or has exited non-zero (and is restarted here,
 * as a supervisor would); never half-stopped. Afterwards the stored candles and indicators
 * equal those of an uninterrupted run (SQL EXCEPT both ways).
 *
 * These tests stop the services every other e2e test uses: run them alone, or against an
 * instance of their own (TICKCAST_*_PORT, TICKCAST_SERVICES_DIR).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS } from '../../schema/topics.ts';
import type { MarketEvent } from '../../schema/events.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { createBus, openFeatureStore } from '../../streams/runtime.ts';
import type { Database } from '../../streams/store/database.ts';
import { startApi, type RunningApi } from '../../cli/api.ts';
import { countRows, dayEvents, publishEvents as publish } from '../support/market-data.ts';
import { startProcessors } from '../support/pipeline.ts';
import { scrape } from '../support/ports.ts';
import { stopGracefully } from '../support/processes.ts';
import { services } from '../support/service-control.ts';
import { tableDifferences } from '../support/compare.ts';
import { hasExited, ready, restartExited, startSupervised, tolerant, type Supervised } from '../support/outage.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

const PAIR = 'BTC/USD';
const TOTAL_ROWS = 1848; // 1440 + 288 + 96 + 24 candles, and as many indicator sets
const PROCESSORS = ['candles', 'indicators', 'store-writer'] as const;
/** Short bounds so the test is quick; the defaults are in lib/config.ts. */
const OUTAGE_ENV = { DEPENDENCY_CHECK_INTERVAL_MS: '1000', LOG_LEVEL: 'info' };
/**
 * Longer than its bound, the processes exit during the outage; shorter, they wait not ready and
 * exit when the broker is back (kafkajs clients did not reliably resume: once seen ready and stuck).
 */
const KAFKA_OUTAGES = [
  { outageMs: 35_000, maxOutageMs: 15_000, exitDuringOutage: true },
  { outageMs: 10_000, maxOutageMs: 120_000, exitDuringOutage: false },
] as const;

const all = async (running: Map<string, Supervised>, test: (s: Supervised) => boolean): Promise<boolean> =>
  [...running.values()].every(test);

/**
 * Publishes `firstHalf` so that `stop` (a service going down) always lands with some of it not
 * yet turned into candles, however fast the machine: after a quarter of the day is stored the
 * candles processor is frozen (SIGSTOP), the rest is published behind it, and it thaws only once
 * `stop` has run. Without this a fast machine finished the first half within the two seconds a
 * broker takes to stop (seen in CI), and the outage then tested little.
 * (Not the store writer that is frozen: a frozen PostgreSQL check times out when it thaws.)
 */
async function withInputPending(
  bus: Bus,
  running: Map<string, Supervised>,
  firstHalf: MarketEvent[],
  iso: Isolation,
  stop: () => Promise<unknown>,
): Promise<void> {
  const quarter = Math.ceil(firstHalf.length / 2);
  await publish(bus, firstHalf.slice(0, quarter));
  await waitFor('progress before the outage', async () => (await countRows(iso.pool, 'candles')) > 100, 120_000, 50);
  const candles = running.get('candles')?.service.child;
  assert.ok(candles, 'the candles processor runs');
  candles.kill('SIGSTOP');
  try {
    await publish(bus, firstHalf.slice(quarter));
    await stop();
  } finally {
    candles.kill('SIGCONT');
  }
}

describe('service outages', () => {
  let events: MarketEvent[];
  let reference: Isolation;

  before(async () => {
    requireServices();
    events = await dayEvents();
    // The uninterrupted run: the same processors on the in-process bus.
    reference = await isolate('outageref');
    tolerant(reference.pool);
    const bus = new MemoryBus();
    await bus.ensureTopics(Object.values(TOPICS));
    const tasks = await startProcessors(reference, bus, PROCESSORS);
    await publish(bus, events);
    await waitFor(
      'the uninterrupted run',
      async () => (await countRows(reference.pool, 'indicators')) >= TOTAL_ROWS,
      120_000,
    );
    for (const task of tasks) await task.stop();
    await bus.close();
  });

  after(async () => {
    await reference?.close();
  });

  for (const scenario of KAFKA_OUTAGES) {
    describe(`Kafka broker stopped for ${scenario.outageMs / 1000} s mid-replay (KAFKA_MAX_OUTAGE_MS ${scenario.maxOutageMs})`, () => {
      const env = { ...OUTAGE_ENV, KAFKA_MAX_OUTAGE_MS: String(scenario.maxOutageMs) };
      let iso: Isolation;
      let bus: Bus;
      const running = new Map<string, Supervised>();
      const during = new Map<string, { status: number; body: string } | undefined>();
      const gaugeDuring = new Map<string, number>();
      const exitedEarly = new Set<string>();
      let storedAtStop = 0;
      let exitedDuringOutage: string[] = [];

      before(async () => {
        iso = await isolate('kafkaout', env);
        tolerant(iso.pool);
        bus = await createBus(iso.config, testLogger);
        for (const name of PROCESSORS) running.set(name, await startSupervised(iso, name, env));
        const half = Math.ceil(events.length / 2);
        await withInputPending(bus, running, events.slice(0, half), iso, () => services('down', 'kafka'));
        storedAtStop = await countRows(iso.pool, 'candles');
        const downAt = Date.now();
        // Every process says Kafka is down: on /ready (503, naming it) and on its gauge.
        await waitFor(
          'every process to report kafka down',
          async () => {
            for (const [name, s] of running) {
              if (during.has(name) || exitedEarly.has(name)) continue;
              const answer = await ready(s.port);
              if (answer?.status === 503 && answer.body.includes('kafka')) {
                during.set(name, answer);
                gaugeDuring.set(name, await scrape(s.port, 'tickcast_dependency_up{dependency="kafka"}'));
              } else if (hasExited(s)) {
                // A processor whose Kafka client gave up first exits at once: not ready either.
                exitedEarly.add(name);
              }
            }
            return during.size + exitedEarly.size === running.size;
          },
          10_000,
          200,
        );
        if (scenario.exitDuringOutage) {
          // Beyond KAFKA_MAX_OUTAGE_MS each process must have exited non-zero, not lingered.
          await waitFor(
            'every process to exit after KAFKA_MAX_OUTAGE_MS',
            async () => all(running, hasExited),
            60_000,
            500,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, scenario.outageMs - (Date.now() - downAt))));
        exitedDuringOutage = [...running].filter(([, s]) => hasExited(s)).map(([name]) => name);
        await services('up', 'kafka');
        // Within the bound, each process waits (not ready) and exits once the broker is back, to be
        // restarted with fresh Kafka clients; none is left running ready but stuck.
        await waitFor('every process to exit once kafka is back', async () => all(running, hasExited), 60_000, 500);

        for (const [name, s] of running) await restartExited(iso, name, s, env);
        await waitFor(
          'every process ready again',
          async () => {
            for (const s of running.values()) if ((await ready(s.port))?.status !== 200) return false;
            return true;
          },
          60_000,
        );
        await publish(bus, events.slice(half));
        await waitFor(
          'the interrupted run to finish',
          async () => (await countRows(iso.pool, 'indicators')) >= TOTAL_ROWS,
          120_000,
        );
        // Let any duplicate or late write arrive before comparing.
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      });

      after(async () => {
        await services('up', 'kafka');
        for (const s of running.values()) await stopGracefully(s.service);
        await bus?.close();
        await iso?.close();
      });

      it('stopped the broker while the first half was still being stored', () => {
        assert.ok(storedAtStop > 0 && storedAtStop < TOTAL_ROWS / 2, `candles stored at the stop: ${storedAtStop}`);
      });

      it('/ready answered 503 naming kafka, and tickcast_dependency_up{dependency="kafka"} was 0, in every process still running', () => {
        assert.ok(during.size > 0, `every process exited before answering /ready: ${[...exitedEarly].join(', ')}`);
        for (const name of during.keys()) {
          const answer = during.get(name);
          assert.equal(answer?.status, 503, name);
          const body = JSON.parse(answer?.body ?? '{}') as { status: string; down: { dependency: string }[] };
          assert.equal(body.status, 'not ready');
          assert.deepEqual(
            body.down.map((d) => d.dependency),
            ['kafka'],
          );
          assert.equal(gaugeDuring.get(name), 0, name);
        }
      });

      it(`every process exited with status 1 ${scenario.exitDuringOutage ? 'during' : 'after'} the outage (none half-stopped), saying why, once`, () => {
        // Within the bound a process may still exit early (its own Kafka client gave up): also fine.
        if (scenario.exitDuringOutage) assert.deepEqual(exitedDuringOutage.sort(), [...PROCESSORS].sort());
        for (const [name, s] of running) {
          const output = s.outputs.join('\n');
          assert.deepEqual(s.exits, [1], `${name}:\n${output.slice(-4000)}`);
          assert.match(output, /exiting with status 1/, name);
          // One line when Kafka went down, however many calls failed while it was.
          assert.ok((output.match(/dependency down: kafka/g) ?? []).length <= 1, `${name}:\n${output.slice(-4000)}`);
        }
        assert.equal(exitedEarly.size + during.size, PROCESSORS.length);
      });

      it('is ready again after the supervisor restarted it', async () => {
        for (const [name, s] of running) assert.equal((await ready(s.port))?.status, 200, name);
      });

      for (const table of ['candles', 'indicators'] as const) {
        it(`stores ${table} identical to the uninterrupted run`, async () => {
          assert.deepEqual(await tableDifferences(reference.id, iso.id, table, { ignore: ['written_at'] }), []);
          assert.equal(await countRows(iso.pool, table), TOTAL_ROWS);
        });
      }
    });
  }

  describe('PostgreSQL stopped and restarted mid-replay', () => {
    let iso: Isolation;
    let bus: Bus;
    let database: Database;
    let api: RunningApi;
    const running = new Map<string, Supervised>();
    const during = new Map<string, { status: number; body: string } | undefined>();
    let gatewayReady: { status: number; body: string } | undefined;
    let graphql: { errors?: { message: string; extensions?: { code?: string } }[] } | undefined;
    let storedAtStop = 0;

    before(async () => {
      iso = await isolate('pgout', { ...OUTAGE_ENV, GATEWAY_AUTH: 'disabled' });
      tolerant(iso.pool);
      bus = await createBus(iso.config, testLogger);
      // The API in this process, on a feature store whose health this process checks.
      database = await openFeatureStore(iso.config, testLogger);
      tolerant(database.pool);
      // Queries only: its live feeds (subscriptions) need no Kafka here.
      api = await startApi(iso.config, { pool: database.pool, bus: new MemoryBus(), logger: testLogger });
      for (const name of PROCESSORS) running.set(name, await startSupervised(iso, name, OUTAGE_ENV));
      const half = Math.ceil(events.length / 2);
      await withInputPending(bus, running, events.slice(0, half), iso, async () => {
        storedAtStop = await countRows(iso.pool, 'candles');
        await services('down', 'postgres');
      });
      const downAt = Date.now();
      // The other half arrives while the store is down: it must wait, not be lost.
      await publish(bus, events.slice(half));
      await waitFor(
        'the store writer to report postgres down',
        async () => {
          for (const [name, s] of running) {
            const answer = await ready(s.port);
            if (answer?.status === 503) during.set(name, answer);
          }
          return during.has('store-writer');
        },
        10_000,
        200,
      );
      const readyUrl = new URL('/ready', api.gateway.url);
      await waitFor(
        "the gateway's /ready to say postgres is down",
        async () => {
          const response = await fetch(readyUrl);
          gatewayReady = { status: response.status, body: await response.text() };
          return gatewayReady.status === 503;
        },
        10_000,
        200,
      );
      const response = await fetch(api.gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `query { market(pair: "${PAIR}") { candles(interval: "1m", first: 1) { edges { node { close } } } } }`,
        }),
      });
      graphql = (await response.json()) as typeof graphql;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - downAt))));
      await services('up', 'postgres');

      for (const [name, s] of running) await restartExited(iso, name, s, OUTAGE_ENV);
      await waitFor(
        'the interrupted run to finish',
        async () => (await countRows(iso.pool, 'indicators').catch(() => 0)) >= TOTAL_ROWS,
        120_000,
      );
      await waitFor(
        'every process ready again',
        async () => {
          for (const s of running.values()) if ((await ready(s.port))?.status !== 200) return false;
          return true;
        },
        30_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    });

    after(async () => {
      await services('up', 'postgres');
      for (const s of running.values()) await stopGracefully(s.service);
      await api?.gateway.stop();
      for (const subgraph of api?.subgraphs ?? []) await subgraph.stop();
      await database?.close();
      await bus?.close();
      await iso?.close();
    });

    it('stopped the store while the first half was still being written', () => {
      assert.ok(storedAtStop > 0 && storedAtStop < TOTAL_ROWS / 2, `candles stored at the stop: ${storedAtStop}`);
    });

    it("the store writer's /ready answered 503 naming postgres", () => {
      const answer = during.get('store-writer');
      assert.equal(answer?.status, 503);
      const body = JSON.parse(answer?.body ?? '{}') as { down: { dependency: string }[] };
      assert.deepEqual(
        body.down.map((d) => d.dependency),
        ['postgres'],
      );
    });

    it("the gateway's /ready answered 503 naming postgres", () => {
      assert.equal(gatewayReady?.status, 503);
      assert.match(gatewayReady?.body ?? '', /postgres/);
    });

    it('a query through the gateway answered STORE_UNAVAILABLE, not INTERNAL_SERVER_ERROR', () => {
      const codes = (graphql?.errors ?? []).map((e) => e.extensions?.code);
      assert.ok(codes.length > 0, JSON.stringify(graphql));
      assert.deepEqual([...new Set(codes)], ['STORE_UNAVAILABLE'], JSON.stringify(graphql));
    });

    it('every processor rode the outage out: none exited, all ready again', async () => {
      for (const [name, s] of running) {
        assert.deepEqual(s.exits, [], name);
        assert.equal((await ready(s.port))?.status, 200, name);
      }
    });

    for (const table of ['candles', 'indicators'] as const) {
      it(`stores ${table} identical to the uninterrupted run`, async () => {
        assert.deepEqual(await tableDifferences(reference.id, iso.id, table, { ignore: ['written_at'] }), []);
        assert.equal(await countRows(iso.pool, table), TOTAL_ROWS);
      });
    }
  });
});
