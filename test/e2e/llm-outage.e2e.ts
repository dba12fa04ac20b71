/**
 * The LLM endpoint down while a real day of headlines (the LUNA/UST collapse, 2022-05-12 UTC)
 * flows through the sentiment extractor, features and writer, each its own `tickcast stream`
 * process on real Kafka and PostgreSQL, scoring with a local OpenAI-compatible server
 * (test/fakes/openai-server.ts). Mid-replay the server is stopped (connection refused),
 * then comes back answering 503 and then 429, both with Retry-After, and then answers. While
 * it is unavailable the extractor's /ready answers 503 naming `llm`, its gauge says 0, it logs
 * one line down and one up (not one per retry), holds the articles instead of scoring them
 * offline, and stays up; afterwards the stored articles, signals and features equal an
 * uninterrupted run of the same replay (SQL EXCEPT both ways). Down beyond LLM_MAX_OUTAGE_MS,
 * the extractor exits 1 without storing anything scored offline, and restarted (as a
 * supervisor would) once the endpoint is back, it stores the same as the uninterrupted run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { newsSink } from '../../streams/news/from-config.ts';
import { HeadlineReplaySource } from '../../streams/news/replay.ts';
import { createBus, type ProcessorName } from '../../streams/runtime.ts';
import { NEWS, requireData } from '../support/data.ts';
import { startOpenAiFake, type OpenAiFake } from '../support/openai-fake.ts';
import { tableDifferences } from '../support/compare.ts';
import { ready } from '../support/outage.ts';
import { startProcessors } from '../support/pipeline.ts';
import { freePort, scrape } from '../support/ports.ts';
import { startService, stopGracefully, type Service } from '../support/processes.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

const DAY = { from: Date.UTC(2022, 4, 12), to: Date.UTC(2022, 4, 13) };
const MIDDAY = Date.UTC(2022, 4, 12, 12);
const PROCESSORS: ProcessorName[] = ['sentiment-extractor', 'sentiment-features', 'sentiment-writer'];
const MODEL = 'fake-model';
const KEY = 'sk-outage';
const TABLES = ['news_articles', 'sentiment_signals', 'sentiment_features'] as const;
/** Short timings so the test is quick; the defaults are in lib/config.ts. */
const LLM_ENV = {
  LLM_MODEL: MODEL,
  LLM_API_KEY: KEY,
  LLM_TIMEOUT_MS: '2000',
  LLM_MAX_RETRIES: '1',
  LLM_RETRY_BASE_MS: '100',
  LLM_CIRCUIT_FAILURES: '2',
  LLM_CIRCUIT_COOLDOWN_MS: '1500',
  LLM_MAX_OUTAGE_MS: '120000',
};

function replay(bus: Bus, iso: Isolation, from: number, to: number): Promise<void> {
  const source = new HeadlineReplaySource({ path: requireData(NEWS), from, to, batchSize: 10, logger: testLogger });
  return source.start(newsSink(bus, iso.config.EVENT_MAX_AHEAD_MS), new AbortController().signal);
}

async function count(pool: pg.Pool, table: string): Promise<number> {
  return Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
}

/** Waits until `table` has as many rows as `want`, and then for a quiet moment in which it does not grow. */
async function settled(pool: pg.Pool, table: string, want?: number): Promise<number> {
  let last = -1;
  let stableSince = Date.now();
  await waitFor(
    `${table} to settle${want === undefined ? '' : ` at ${want} rows`}`,
    async () => {
      const n = await count(pool, table);
      if (n !== last) {
        last = n;
        stableSince = Date.now();
      }
      return (want === undefined || n >= want) && Date.now() - stableSince > 3_000;
    },
    120_000,
    250,
  );
  return last;
}

let referenceRun: Promise<{ reference: Isolation; want: Map<string, number> }> | undefined;

/** The uninterrupted run (once per file): the same processors and LLM, on the in-process bus. */
function uninterrupted(): Promise<{ reference: Isolation; want: Map<string, number> }> {
  referenceRun ??= (async () => {
    const fake = await startOpenAiFake(KEY);
    try {
      const reference = await isolate('llmref', { ...LLM_ENV, LLM_BASE_URL: fake.url });
      const memory = new MemoryBus();
      await memory.ensureTopics(Object.values(TOPICS));
      const tasks: RunningTask[] = await startProcessors(reference, memory, PROCESSORS);
      await replay(memory, reference, DAY.from, DAY.to);
      const want = new Map<string, number>();
      for (const table of TABLES) want.set(table, await settled(reference.pool, table));
      for (const task of tasks) await task.stop();
      await memory.close();
      assert.ok((want.get('sentiment_signals') ?? 0) > 50, 'a real day of signals');
      return { reference, want };
    } finally {
      await fake.stop();
    }
  })();
  return referenceRun;
}

after(async () => {
  if (referenceRun) await (await referenceRun).reference.close();
});

async function assertSameAsUninterrupted(iso: Isolation): Promise<void> {
  const { reference, want } = await uninterrupted();
  for (const table of TABLES) {
    assert.equal(await count(iso.pool, table), want.get(table), table);
    assert.deepEqual(
      await tableDifferences(reference.id, iso.id, table, { ignore: ['written_at', 'created_at', 'updated_at'] }),
      [],
      table,
    );
  }
}

describe('the LLM endpoint down mid-replay (sentiment extractor as its own process)', () => {
  let fake: OpenAiFake;
  let llmPort: number;
  let iso: Isolation;
  let bus: Bus;
  let extractor: Service;
  let extractorPort: number;
  const others: Service[] = [];
  /** The extractor's log lines (pino JSON), every one of them. */
  const lines: { msg?: string; level?: number }[] = [];
  let want: Map<string, number>;
  const during: { status: number; body: string }[] = [];
  let gaugeDuring = -1;
  let signalsAtStop = 0;
  let signalsAtRecovery = 0;

  before(async () => {
    requireServices();
    ({ want } = await uninterrupted());
    fake = await startOpenAiFake(KEY);
    llmPort = Number(new URL(fake.url).port);
    const env = { ...LLM_ENV, LLM_BASE_URL: fake.url };

    iso = await isolate('llmout', { ...env, LOG_LEVEL: 'info' });
    bus = await createBus(iso.config, testLogger);
    extractorPort = await freePort();
    extractor = startService('sentiment-extractor', ['stream', 'sentiment-extractor'], {
      ...iso.env,
      METRICS_PORT: String(extractorPort),
    });
    createInterface({ input: extractor.child.stdout! }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as { msg?: string });
      } catch {
        // not a log line
      }
    });
    for (const name of ['sentiment-features', 'sentiment-writer'])
      others.push(startService(name, ['stream', name], { ...iso.env, METRICS_PORT: '0' }));
    await waitFor('the extractor ready', async () => (await ready(extractorPort))?.status === 200, 120_000);

    // The morning is scored; then the endpoint goes away (connection refused) and the afternoon arrives.
    await replay(bus, iso, DAY.from, MIDDAY);
    await waitFor('signals of the morning', async () => (await count(iso.pool, 'sentiment_signals')) > 10, 120_000);
    await fake.stop();
    await replay(bus, iso, MIDDAY, DAY.to);
    await waitFor(
      '/ready 503 naming llm',
      async () => {
        const answer = await ready(extractorPort);
        if (answer?.status === 503) during.push(answer);
        return answer?.status === 503;
      },
      120_000,
    );
    gaugeDuring = await scrape(extractorPort, 'tickcast_dependency_up{dependency="llm"}');
    signalsAtStop = await count(iso.pool, 'sentiment_signals');

    // Back, but overloaded and then rate limited, each with the Retry-After providers send.
    fake = await startOpenAiFake(KEY, llmPort);
    await fake.setDefault({ kind: 'fail', status: 503, retryAfterSeconds: 1 });
    await waitFor('calls answered 503', async () => (await fake.requests()).length >= 2, 60_000);
    await fake.setDefault({ kind: 'fail', status: 429, retryAfterSeconds: 1 });
    const before429 = (await fake.requests()).length;
    await waitFor('calls answered 429', async () => (await fake.requests()).length >= before429 + 2, 60_000);
    const answer = await ready(extractorPort);
    if (answer) during.push(answer);
    signalsAtRecovery = await count(iso.pool, 'sentiment_signals');

    await fake.setDefault({ kind: 'good' });
    for (const table of TABLES) await settled(iso.pool, table, want.get(table));
  });

  after(async () => {
    await stopGracefully(extractor);
    for (const s of others) await stopGracefully(s);
    await bus?.close();
    await fake?.stop();
    await iso?.close();
  });

  it('says llm is down on /ready (503) and its gauge while the endpoint refuses, answers 503 or 429', () => {
    assert.ok(during.length >= 2, 'looked during the outage and during the 503/429 phase');
    for (const answer of during) {
      assert.equal(answer.status, 503, answer.body);
      const body = JSON.parse(answer.body) as { reason: string; down: { dependency: string }[] };
      assert.match(body.reason, /unavailable: llm/);
      assert.deepEqual(
        body.down.map((d) => d.dependency),
        ['llm'],
      );
    }
    assert.equal(gaugeDuring, 0);
  });

  it('holds the articles while the LLM is unavailable: nothing scored offline, the process stays up', async () => {
    assert.equal(signalsAtRecovery, signalsAtStop, 'no signal stored while the LLM was unavailable');
    assert.ok(signalsAtStop < (want.get('sentiment_signals') ?? 0), 'the outage began with articles still to score');
    const { rows } = await iso.pool.query<{ scorer: string; n: string }>(
      'SELECT scorer, count(*) AS n FROM sentiment_signals GROUP BY scorer',
    );
    assert.deepEqual(
      rows.map((r) => r.scorer),
      [`llm:${MODEL}`],
    );
    assert.equal(extractor.child.exitCode, null, extractor.output());
    assert.equal((await ready(extractorPort))?.status, 200);
    assert.equal(await scrape(extractorPort, 'tickcast_dependency_up{dependency="llm"}'), 1);
  });

  it('logs the outage once down and once up, not once per retry', () => {
    const messages = lines.map((l) => l.msg ?? '');
    assert.deepEqual(
      messages.filter((m) => m.includes('llm')),
      ['dependency down: llm', 'dependency up again: llm'],
    );
    assert.equal(
      messages.filter((m) => /LLM|circuit/.test(m) && !m.startsWith('sentiment scorer')).length,
      0,
      messages.filter((m) => /LLM|circuit/.test(m)).join('\n'),
    );
  });

  it('stores the same articles, signals and features as the uninterrupted run (SQL EXCEPT both ways)', () =>
    assertSameAsUninterrupted(iso));

  it('stops cleanly on SIGTERM', async () => {
    const exit = once(extractor.child, 'exit');
    extractor.child.kill('SIGTERM');
    const [code] = (await exit) as [number | null];
    assert.equal(code, 0, extractor.output());
  });
});

describe('the LLM endpoint down beyond LLM_MAX_OUTAGE_MS: the extractor exits 1, restarted it catches up', () => {
  let fake: OpenAiFake | undefined;
  let iso: Isolation;
  let bus: Bus;
  let extractor: Service;
  const others: Service[] = [];
  let exit: number | NodeJS.Signals | null | 'still running';
  let output = '';
  let signalsWhileDown = -1;

  before(async () => {
    requireServices();
    const { want } = await uninterrupted();
    // An endpoint that is down from the start: a port nothing listens on until the test says so.
    const probe = await startOpenAiFake(KEY);
    const url = probe.url;
    await probe.stop();
    iso = await isolate('llmbound', { ...LLM_ENV, LLM_MAX_OUTAGE_MS: '6000', LLM_BASE_URL: url, LOG_LEVEL: 'info' });
    bus = await createBus(iso.config, testLogger);
    const port = await freePort();
    const startExtractor = () =>
      startService('sentiment-extractor', ['stream', 'sentiment-extractor'], {
        ...iso.env,
        METRICS_PORT: String(port),
      });
    extractor = startExtractor();
    for (const name of ['sentiment-features', 'sentiment-writer'])
      others.push(startService(name, ['stream', name], { ...iso.env, METRICS_PORT: '0' }));
    await waitFor('the extractor ready', async () => (await ready(port))?.status === 200, 120_000);
    await replay(bus, iso, DAY.from, DAY.to);
    const closed = once(extractor.child, 'close');
    exit = await Promise.race([
      extractor.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 90_000).unref()),
    ]);
    if (exit !== 'still running') await closed;
    output = extractor.output();
    signalsWhileDown = await count(iso.pool, 'sentiment_signals');

    // The endpoint is back; a supervisor starts the extractor again.
    fake = await startOpenAiFake(KEY, Number(new URL(url).port));
    if (exit !== 'still running') extractor = startExtractor();
    for (const table of TABLES) await settled(iso.pool, table, want.get(table));
  });

  after(async () => {
    await stopGracefully(extractor);
    for (const s of others) await stopGracefully(s);
    await bus?.close();
    await fake?.stop();
    await iso?.close();
  });

  it('exits 1 naming llm once the outage outlasts the bound, having stored nothing scored offline', () => {
    assert.equal(exit, 1, output);
    assert.match(output, /llm has been unreachable for \d+ s/);
    assert.equal(signalsWhileDown, 0);
  });

  it('restarted with the LLM back, stores the same articles, signals and features as the uninterrupted run', () =>
    assertSameAsUninterrupted(iso));
});
