/**
 * `tickcast start` (embedded default) stopped with SIGTERM mid-replay and started again
 * on the same data directory, as a user restarts `npm start`: the replay says it resumes
 * after the newest stored minute (no candle at or before it reaches a subscriber, the live
 * minutes follow one another, the stored minutes stay continuous), a live candleUpdated
 * subscription through the gateway gets a new candle within 10 s of the restarted service
 * being ready, and the modelPerformance counts do not fall (the error monitor rebuilds its
 * windows from the store).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createLogger } from '../../lib/logger.ts';
import { openDatabase } from '../../streams/store/database.ts';
import { BTC_CANDLES, requireData } from '../support/data.ts';
import { freePort } from '../support/ports.ts';
import { startService, stopGracefully, type Service } from '../support/processes.ts';
import { waitFor } from '../support/services.ts';

const MINUTE = 60_000;
const PAIR = 'BTC/USD';
/** 600x: ten replayed minutes a second, a prediction and an outcome for each. */
const START_ARGS = ['start', '--source', 'replay', '--replay', requireData(BTC_CANDLES), '--speed', '600'];
const START_ARGS_FROM = [...START_ARGS, '--from', '2023-04-20T00:00:00Z'];

/** The stored one-minute candles' open times, oldest first (the service must be stopped: PGlite is single-process). */
async function storedMinutes(dataDir: string): Promise<{ minutes: number[] }> {
  const database = await openDatabase(
    {
      url: undefined,
      embeddedDataDir: join(dataDir, 'pglite'),
      poolSize: 1,
      connectTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
      statementTimeoutMs: 30_000,
      queryTimeoutMs: 35_000,
    },
    createLogger('silent'),
  );
  try {
    const { rows } = await database.pool.query<{ open_time: Date }>(
      `SELECT open_time FROM candles WHERE pair = $1 AND interval = '1m' ORDER BY open_time`,
      [PAIR],
    );
    return { minutes: rows.map((r) => r.open_time.getTime()) };
  } finally {
    await database.close();
  }
}

function assertContinuous(minutes: readonly number[], what: string): void {
  assert.ok(minutes.length > 0, `${what}: candles stored`);
  const first = minutes[0]!;
  const holes = minutes.filter((t, i) => t !== first + i * MINUTE);
  assert.deepEqual(holes.slice(0, 3), [], `${what}: one candle per minute from the first, no hole, no duplicate`);
}

describe('restart resumes (tickcast start, embedded, same data directory)', () => {
  let dataDir: string;
  const running: Service[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tickcast-restart-'));
  });

  after(async () => {
    for (const service of running) await stopGracefully(service);
    await rm(dataDir, { recursive: true, force: true });
  });

  const env = async (): Promise<Record<string, string>> => ({
    GATEWAY_PORT: String(await freePort()),
    METRICS_PORT: String(await freePort()),
    TICKCAST_DATA_DIR: dataDir,
    PAIRS: PAIR,
    PREDICTION_HORIZONS: '1',
    CHAMPION_POLL_MS: '1000',
    // The replay's resume position is said at info; at debug each part's stop time is too, for a stop that hangs.
    LOG_LEVEL: 'debug',
    // No news replay: this test is about the market replay and the monitor.
    NEWS_REPLAY_FILE: join(dataDir, 'no-news.csv'),
  });

  /** Starts the service and waits for its gateway; returns the URL, the session key and when it was ready. */
  async function start(): Promise<{ service: Service; base: string; key: string; readyAt: number }> {
    const vars = await env();
    const service = startService('start', START_ARGS_FROM, vars, { embedded: true });
    running.push(service);
    const base = `http://127.0.0.1:${vars['GATEWAY_PORT']}`;
    try {
      await waitFor(
        'a session key and a ready gateway',
        async () =>
          /this session's admin key is /.test(service.output()) &&
          (await fetch(`${base}/ready`)
            .then((r) => r.ok)
            .catch(() => false)),
        60_000,
        100,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n--- tickcast start:\n${service.output().slice(-3000)}`, { cause: error });
    }
    const key = /this session's admin key is (tck_session_\S+)/.exec(service.output())?.[1] ?? '';
    return { service, base, key, readyAt: Date.now() };
  }

  /** The one model version's rolling count and when the monitor last updated it (event time). */
  async function performance(base: string, key: string): Promise<{ count: number; updatedAt: number }> {
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({
        query: `{ modelPerformance(pair: "${PAIR}", horizonMinutes: 1) { count updatedAt } }`,
      }),
    });
    const body = (await response.json()) as { data?: { modelPerformance: { count: number; updatedAt: string }[] } };
    const [row] = body.data?.modelPerformance ?? [];
    return { count: row?.count ?? 0, updatedAt: row ? Date.parse(row.updatedAt) : 0 };
  }
  const performanceCount = async (base: string, key: string): Promise<number> => (await performance(base, key)).count;

  it('continues the replay after its position, serves live candles within 10 s, and keeps the performance counts', async () => {
    // A model in the registry first, so predictions flow from the first replayed minute.
    const train = startService(
      'train',
      ['train', '--pair', PAIR, '--horizon', '1', '--data', requireData(BTC_CANDLES)],
      (({ GATEWAY_PORT: _g, ...rest }) => rest)(await env()),
      { embedded: true },
    );
    assert.equal(await train.exited, 0, train.output());

    const first = await start();
    await waitFor('scored predictions', async () => (await performanceCount(first.base, first.key)) >= 60, 90_000, 500);
    const countBefore = await performanceCount(first.base, first.key);
    assert.equal(await stopGracefully(first.service), 0, first.service.output().slice(-3000));

    const before = await storedMinutes(dataDir);
    assertContinuous(before.minutes, 'before the restart');
    const newestStored = before.minutes.at(-1)!;
    assert.ok(newestStored > Date.UTC(2023, 3, 20, 0, 10), 'the first run got well into the replay');

    const second = await start();
    // Read as soon as it is said (the service's output is kept as a tail): the source starts once the gateway is ready.
    let resumedAfter: string | undefined;
    await waitFor(
      'the restarted replay to say where it resumes',
      async () => {
        const line = second.service
          .output()
          .split('\n')
          .find((l) => l.includes('candle replay resumes'));
        resumedAfter = line && ((JSON.parse(line) as { after?: string }).after ?? '');
        return line !== undefined;
      },
      10_000,
      20,
    );
    // Counts as clients see them from the restart on: polled often, so a fall to 1 cannot slip between two polls.
    const countsAfter: { count: number; updatedAt: number }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        countsAfter.push(await performance(second.base, second.key));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const events: { openTime: number; final: boolean; at: number }[] = [];
    const client = createClient({
      url: `${second.base.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': second.key },
      retryAttempts: 0,
    });
    const errors: unknown[] = [];
    client.subscribe<{ candleUpdated: { openTime: string; final: boolean } }>(
      { query: `subscription { candleUpdated(pair: "${PAIR}", interval: "1m") { openTime final } }` },
      {
        next: ({ data }) => {
          if (data)
            events.push({
              openTime: Date.parse(data.candleUpdated.openTime),
              final: data.candleUpdated.final,
              at: Date.now(),
            });
        },
        error: (error) => errors.push(error),
        complete: () => undefined,
      },
    );
    try {
      await waitFor('a live candle after the restart', async () => events.length > 0, 10_000, 50);
      assert.ok(events[0]!.at - second.readyAt <= 10_000, 'within 10 s of the restarted service being ready');
      await waitFor('twenty live minutes', async () => events.filter((e) => e.final).length >= 20, 30_000, 100);
      assert.deepEqual(errors, []);
      const older = events.filter((e) => e.openTime <= newestStored);
      assert.deepEqual(
        older.map((e) => new Date(e.openTime).toISOString()),
        [],
        `nothing at or before the newest stored minute (${new Date(newestStored).toISOString()}) is published again`,
      );
      // Where the replay went on is what it says it resumed after: the first minutes it sends may
      // come before the subscription is up (ten a second, from the moment the gateway is ready).
      assert.ok(resumedAfter, `the restarted replay says where it resumes:\n${second.service.output().slice(-3000)}`);
      assert.equal(Date.parse(resumedAfter), newestStored, 'the replay resumes after the newest stored minute');
      const finals = events.filter((e) => e.final).map((e) => e.openTime);
      assert.equal(new Set(finals).size, finals.length, 'each minute closes once');
      assertContinuous(finals, 'the live minutes after the restart');

      // The first answer is what the first run stored; wait for updates the restarted monitor made.
      const stored = countsAfter[0]!;
      assert.ok(stored.count >= countBefore);
      await waitFor(
        'scored predictions after the restart',
        async () => countsAfter.filter((p) => p.updatedAt > stored.updatedAt).length >= 5,
        30_000,
        100,
      );
      polling = false;
      await poller;
      const lowest = Math.min(...countsAfter.map((p) => p.count));
      assert.ok(
        lowest >= stored.count,
        `modelPerformance count never below ${stored.count} after the restart (lowest ${lowest})`,
      );
    } finally {
      polling = false;
      await poller;
      await client.dispose();
    }
    assert.equal(await stopGracefully(second.service), 0, second.service.output().slice(-3000));

    const afterRestart = await storedMinutes(dataDir);
    assertContinuous(afterRestart.minutes, 'after the restart');
    assert.ok(afterRestart.minutes.at(-1)! > newestStored + 10 * MINUTE, 'the second run stored new minutes');
    const positions = await readdir(join(dataDir, 'replay-positions'));
    assert.equal(positions.length, 1, `one saved replay position: ${positions.join(', ')}`);
    const saved = JSON.parse(await readFile(join(dataDir, 'replay-positions', positions[0]!), 'utf8')) as {
      lastMinute: number;
    };
    assert.ok(saved.lastMinute >= newestStored, 'the position is at or after the newest stored minute');
  });
});
