/**
 * `tickcast start` (the whole system in one process) over real Kafka and PostgreSQL, with the
 * Kafka broker stopped for 10 s mid-replay and started again: the case the issue saw go wrong
 * (ports closed, the process alive for minutes, nothing resumed). While the broker is down the
 * gateway's /ready answers 503 naming kafka; the process then exits with status 1 (never lingers
 * half-stopped), and the same command started again, as a supervisor would, continues the
 * replay from its saved position: the stored one-minute candles equal the input minutes (SQL
 * EXCEPT both ways), without a hole or a duplicate across the outage.
 *
 * This test stops the Kafka broker every other e2e test uses: run it alone, or against an
 * instance of its own (TICKCAST_*_PORT, TICKCAST_SERVICES_DIR).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BTC_CANDLES, requireData } from '../support/data.ts';
import { loadDay, loadInputMinutes, minuteMismatches } from '../support/market-data.ts';
import { freePort } from '../support/ports.ts';
import { startService, stopGracefully, type Service } from '../support/processes.ts';
import { services } from '../support/service-control.ts';
import { isolate, waitFor, type Isolation } from '../support/services.ts';

const PAIR = 'BTC/USD';
const FROM = Date.UTC(2023, 3, 20);
/** 300x: five replayed minutes a second, so the outage falls well inside the replayed day. */
const START_ARGS = [
  'start',
  '--source',
  'replay',
  '--replay',
  requireData(BTC_CANDLES),
  '--speed',
  '300',
  '--from',
  new Date(FROM).toISOString(),
];
const OUTAGE_MS = 10_000;

async function storedMinutes(iso: Isolation): Promise<number> {
  const { rows } = await iso.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM candles WHERE pair = $1 AND interval = '1m'`,
    [PAIR],
  );
  return rows[0]?.n ?? 0;
}

async function ready(base: string): Promise<{ status: number; body: string } | undefined> {
  const response = await fetch(`${base}/ready`).catch(() => undefined);
  return response && { status: response.status, body: await response.text() };
}

describe('tickcast start through a Kafka outage', () => {
  let iso: Isolation;
  let dataDir: string;
  const started: Service[] = [];
  let first: Service;
  let during: { status: number; body: string } | undefined;
  let firstExit: number | NodeJS.Signals | null = null;
  let exitedWithinMs = Infinity;
  let minutesAtStop = 0;
  let exitedDuringOutage = false;
  let minutesAtEnd = 0;

  async function start(): Promise<{ service: Service; base: string }> {
    const gatewayPort = await freePort();
    const service = startService('start', START_ARGS, {
      ...iso.env,
      GATEWAY_PORT: String(gatewayPort),
      METRICS_PORT: String(await freePort()),
      TICKCAST_DATA_DIR: dataDir,
      PAIRS: PAIR,
      NEWS_REPLAY_FILE: join(dataDir, 'no-news.csv'),
      DEPENDENCY_CHECK_INTERVAL_MS: '1000',
      KAFKA_MAX_OUTAGE_MS: '120000',
      // A graceful stop on a loaded 2-core machine can take longer than the 15 s default.
      SHUTDOWN_TIMEOUT_MS: '60000',
      LOG_LEVEL: 'info',
    });
    started.push(service);
    const base = `http://127.0.0.1:${gatewayPort}`;
    await waitFor('a ready gateway', async () => (await ready(base))?.status === 200, 90_000, 200).catch(
      (error: unknown) => {
        throw new Error(`${String(error)}\n--- tickcast start:\n${service.output().slice(-3000)}`, { cause: error });
      },
    );
    return { service, base };
  }

  before(async () => {
    iso = await isolate('startout');
    iso.pool.on('error', () => undefined);
    dataDir = await mkdtemp(join(tmpdir(), 'tickcast-start-outage-'));

    const running = await start();
    first = running.service;
    await waitFor('stored minutes before the outage', async () => (await storedMinutes(iso)) >= 30, 90_000, 200);

    await services('down', 'kafka');
    minutesAtStop = await storedMinutes(iso);
    const downAt = Date.now();
    // Either the gateway says kafka is down, or a Kafka client gave up first and the process
    // is stopping (ports closed) to exit 1: then it must have exited before this times out.
    await waitFor(
      'the gateway to report kafka down, or the process to exit',
      async () => {
        const answer = await ready(running.base);
        if (answer?.status === 503 && answer.body.includes('kafka')) during = answer;
        return during !== undefined || first.child.exitCode !== null;
      },
      60_000,
      100,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- tickcast start:\n${first.output().slice(-3000)}`, { cause: error });
    });
    exitedDuringOutage = first.child.exitCode !== null;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
    await services('up', 'kafka');
    const backAt = Date.now();
    // Back after an outage its Kafka clients do not reliably survive: the process exits for its
    // supervisor. It must not stay alive with its ports closed.
    await waitFor('tickcast start to exit', async () => first.child.exitCode !== null, 60_000, 200).catch(
      () => undefined,
    );
    if (first.child.exitCode !== null) {
      firstExit = await first.exited;
      exitedWithinMs = Date.now() - backAt;
    }

    const second = await start();
    await waitFor(
      'the restarted replay to store 30 more minutes',
      async () => (await storedMinutes(iso)) >= minutesAtStop + 30,
      120_000,
      500,
    );
    assert.equal(await stopGracefully(second.service), 0, second.service.output().slice(-3000));
    minutesAtEnd = await storedMinutes(iso);
  });

  after(async () => {
    await services('up', 'kafka');
    for (const service of started) await stopGracefully(service);
    await iso?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('stopped the broker mid-replay', () => {
    assert.ok(minutesAtStop >= 30 && minutesAtStop < 1440, `minutes stored at the stop: ${minutesAtStop}`);
  });

  it("answered 503 on the gateway's /ready naming kafka while the broker was down, or had already exited 1", () => {
    if (during === undefined) {
      assert.ok(exitedDuringOutage, `neither not ready nor exited:\n${first.output().slice(-3000)}`);
      assert.equal(firstExit, 1);
      return;
    }
    assert.equal(during.status, 503);
    const body = JSON.parse(during.body) as { down?: { dependency: string }[] };
    assert.ok(
      body.down?.some((d) => d.dependency === 'kafka'),
      during.body,
    );
  });

  it('exited with status 1, during the outage or once the broker was back, saying why (not left half-stopped)', () => {
    assert.equal(firstExit, 1, first.output().slice(-4000));
    assert.ok(exitedWithinMs < 60_000, `exited ${exitedWithinMs} ms after the broker was back`);
    assert.match(first.output(), /exiting with status 1/);
    assert.ok((first.output().match(/dependency down: kafka/g) ?? []).length <= 1, 'one line per state change');
  });

  it('started again, continued the replay: stored one-minute candles equal the input minutes, no hole, no duplicate', async () => {
    assert.ok(minutesAtEnd >= minutesAtStop + 30, `${minutesAtStop} minutes at the stop, ${minutesAtEnd} at the end`);
    const { rows } = await iso.pool.query<{ last: Date }>(
      `SELECT max(open_time) AS last FROM candles WHERE pair = $1 AND interval = '1m'`,
      [PAIR],
    );
    const last = rows[0]?.last?.getTime() ?? 0;
    await loadInputMinutes(iso.pool, await loadDay(BTC_CANDLES, { from: FROM, to: last + 1 }));
    assert.deepEqual(await minuteMismatches(iso.pool, PAIR), []);
  });
});
