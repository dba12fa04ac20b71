/**
 * SIGKILL the sentiment extractor and the sentiment features processor repeatedly while two
 * real weeks of headlines replay through Kafka; the stored articles, signals and features must
 * be identical to an uninterrupted run, and every signal on the Kafka topic exactly once.
 * A kill counts only when the killed processor still had uncommitted input right after it
 * (its consumer group's offsets against the topic's end), so a kill that landed after the
 * input ran out cannot make the assertion pass.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import type { NewsItem } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { SeenArticles } from '../../streams/news/dedupe.ts';
import { newsSink } from '../../streams/news/from-config.ts';
import { loadHeadlines } from '../../streams/news/headlines-csv.ts';
import { headlineItem } from '../../streams/news/replay.ts';
import { createBus } from '../../streams/runtime.ts';
import { tableDifferences } from '../support/compare.ts';
import { NEWS, requireData } from '../support/data.ts';
import { randomDelay, StreamProcesses } from '../support/kill-rounds.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

/** Two weeks around the LUNA/UST collapse: a few hundred articles, many of them tagged. */
const WEEKS = { from: Date.UTC(2022, 4, 2), to: Date.UTC(2022, 4, 16) };
const KILLED = ['sentiment-extractor', 'sentiment-features'] as const;
const INPUT_OF = { 'sentiment-extractor': TOPICS.news.name, 'sentiment-features': TOPICS.sentimentSignals.name };
/**
 * The input is published in MAX_ROUNDS + 1 slices; kill rounds go on until each processor has
 * LANDED_KILLS kills that landed, then the remaining slices flow without kills. A busy
 * machine (the e2e files run two at a time) makes more kills come late, so a fixed count of
 * rounds was too few there and needlessly many on a quiet one.
 */
const MAX_ROUNDS = 10;
const LANDED_KILLS = 3;
const TABLES = {
  news_articles: 'id, title, url, source, published_at, content_hash',
  // created_at is the wall clock of scoring: it differs between two runs by design.
  sentiment_signals: 'article_id, coin, score, label, confidence, reason, scorer, prompt_version',
  sentiment_features: 'coin, window_name, as_of, mean_score, count, bullish_ratio, bearish_ratio',
} as const;

async function headlines(): Promise<NewsItem[]> {
  const { rows } = await loadHeadlines(requireData(NEWS));
  const seen = new SeenArticles();
  return rows
    .filter((r) => r.publishedAt >= WEEKS.from && r.publishedAt < WEEKS.to && r.title.trim() !== '')
    .sort((a, b) => a.publishedAt - b.publishedAt)
    .map(headlineItem)
    .filter((item) => seen.firstSighting(item));
}

const PIPELINE = ['sentiment-extractor', 'sentiment-features', 'sentiment-writer'] as const;

function startPipeline(iso: Isolation): StreamProcesses {
  const processes = new StreamProcesses(iso, INPUT_OF);
  for (const name of PIPELINE) processes.start(name);
  return processes;
}

const count = async (iso: Isolation, table: string): Promise<number> =>
  Number((await iso.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);

describe('crash recovery of the sentiment extractor and features processors', () => {
  let items: NewsItem[];
  let reference: Isolation;
  let crashed: Isolation;
  let processes: StreamProcesses;
  const referenceCounts: Record<string, number> = {};
  const shutdowns: Record<string, unknown>[] = [];

  before(async () => {
    items = await headlines();
    assert.ok(items.length > 200, `two real weeks of headlines (${items.length})`);
    const slice = Math.ceil(items.length / (MAX_ROUNDS + 1));

    // The uninterrupted run, fed the same slices as the crashed one.
    reference = await isolate('sentref');
    const referenceBus = await createBus(reference.config, testLogger);
    const publishReference = newsSink(referenceBus, reference.config.EVENT_MAX_AHEAD_MS);
    const calm = startPipeline(reference);
    for (let from = 0; from < items.length; from += slice) {
      await publishReference(items.slice(from, from + slice));
      const stored = Math.min(items.length, from + slice);
      await waitFor('the slice stored', async () => (await count(reference, 'news_articles')) >= stored, 120_000, 200);
    }
    let settled = -1;
    await waitFor(
      'the uninterrupted run to settle',
      async () => {
        const now = (await count(reference, 'sentiment_features')) + (await count(reference, 'sentiment_signals'));
        const done = now > 0 && now === settled;
        settled = now;
        return done;
      },
      120_000,
      2_000,
    );
    for (const table of Object.keys(TABLES)) referenceCounts[table] = await count(reference, table);
    shutdowns.push(await calm.stopAll());
    await referenceBus.close();

    // The same input in slices; after each slice both processors are killed at a random moment.
    crashed = await isolate('sentcrash');
    const bus: Bus = await createBus(crashed.config, testLogger);
    const publish = newsSink(bus, crashed.config.EVENT_MAX_AHEAD_MS);
    processes = startPipeline(crashed);
    let round = 0;
    for (; round < MAX_ROUNDS && !processes.landedAtLeast(KILLED, LANDED_KILLS); round++) {
      // The features processor is fast and its input is the extractor's output, so it is held
      // down while the slice's signals pile up, and killed while it works through them.
      await processes.kill('sentiment-features');
      await publish(items.slice(round * slice, (round + 1) * slice));
      await randomDelay(400);
      await processes.killAndRestart('sentiment-extractor');
      await processes.restartAndKillWhileBusy('sentiment-features', 300);
    }
    await publish(items.slice(round * slice));
    await waitFor(
      'the crashed run to catch up',
      async () => {
        for (const table of Object.keys(TABLES)) {
          if ((await count(crashed, table)) < referenceCounts[table]!) return false;
        }
        return true;
      },
      120_000,
      1_000,
    ).catch(async (error: Error) => {
      const counts: Record<string, string> = {};
      for (const table of Object.keys(TABLES)) {
        counts[table] = `${await count(crashed, table)} of ${referenceCounts[table]}`;
      }
      throw new Error(
        `${error.message}: ${JSON.stringify(counts)} kills ${JSON.stringify(processes.kills)}\n${processes.logs()}`,
      );
    });
    // Room for a duplicate that a broken exactly-once would produce.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    shutdowns.push(await processes.stopAll());
    await bus.close();
  });

  after(async () => {
    await reference?.close();
    await crashed?.close();
  });

  it('killed each processor at least three times while its input was still flowing', (t) => {
    t.diagnostic(`kills ${JSON.stringify(processes.kills)}`);
    for (const name of KILLED) {
      assert.ok((processes.kills[name]?.landed ?? 0) >= LANDED_KILLS, JSON.stringify(processes.kills));
    }
  });

  it('every processor shuts down cleanly on SIGTERM', () => {
    const clean = { 'sentiment-extractor': 0, 'sentiment-features': 0, 'sentiment-writer': 0 };
    assert.deepEqual(shutdowns, [clean, clean]);
  });

  for (const [table, columns] of Object.entries(TABLES)) {
    it(`stores ${table} identical to the uninterrupted run (EXCEPT both ways)`, async () => {
      const diff = await tableDifferences(reference.id, crashed.id, table, { columns: columns.split(', ') });
      assert.deepEqual(diff, []);
      assert.ok(referenceCounts[table]! > 0, `${table} has rows`);
      assert.equal(await count(crashed, table), referenceCounts[table]);
    });
  }

  it('published every signal exactly once to Kafka (read committed)', async () => {
    const kafka = new Kafka({
      brokers: requireServices().brokers,
      clientId: 'crash-audit',
      logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({ groupId: `${crashed.id}.audit`, readUncommitted: false });
    const seen = new Map<string, number>();
    let total = 0;
    await consumer.connect();
    await consumer.subscribe({ topic: `${crashed.id}.${TOPICS.sentimentSignals.name}`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const signal = JSON.parse(message.value!.toString()) as { articleId: string; coin: string };
        const key = `${signal.articleId}|${signal.coin}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        total += 1;
      },
    });
    const expected = referenceCounts['sentiment_signals']!;
    await waitFor('the audit consumer to read the signals topic', async () => total >= expected, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await consumer.disconnect();
    assert.equal(seen.size, expected);
    assert.equal(total, expected, 'a signal was published more than once');
  });
});
