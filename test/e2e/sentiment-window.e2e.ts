/**
 * The sentiment extractor's bounded article memory on real Kafka: with room for three
 * articles, older ones are forgotten in memory and in the changelog (tombstones, so a
 * restart does not bring them back and compaction drops them), while the newest three
 * survive a restart and their re-delivery is still skipped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { createBus } from '../../streams/runtime.ts';
import { toNewsItem } from '../../streams/news/article.ts';
import { EXTRACTOR_NAME } from '../../streams/sentiment/extractor.ts';
import { sentimentSignalSchema, type NewsItem, type SentimentSignal } from '../../schema/events.ts';
import { changelogTopic, TOPICS } from '../../schema/topics.ts';
import { startProcessors } from '../support/pipeline.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

const WINDOW = 3;
const ARTICLES = 8;

const item = (n: number): NewsItem =>
  toNewsItem({
    title: `Bitcoin story ${n}`,
    text: '',
    url: `https://news.example/kafka-window/${n}`,
    source: 'Example',
    feed: 'replay',
    publishedAt: Date.UTC(2022, 0, 1) + n * 60_000,
  });

describe('sentiment extractor state window on real Kafka', () => {
  let iso: Isolation;
  let bus: Bus;
  let extractor: RunningTask | undefined;
  let check: RunningTask | undefined;
  const signals: SentimentSignal[] = [];
  const items = Array.from({ length: ARTICLES }, (_, n) => item(n));
  const scored = (id: string): number => signals.filter((s) => s.articleId === id).length;

  before(async () => {
    iso = await isolate('window', { SENTIMENT_MAX_ARTICLES: String(WINDOW) });
    bus = await createBus(iso.config, testLogger);
    check = await bus.consume({
      groupId: 'window-check',
      topics: [TOPICS.sentimentSignals.name],
      fromBeginning: true,
      handler: async (records) => {
        for (const r of records) signals.push(sentimentSignalSchema.parse(JSON.parse(String(r.value))));
      },
    });
  });
  after(async () => {
    await extractor?.stop();
    await check?.stop();
    await bus?.close();
    await iso?.close();
  });

  const startExtractor = async (): Promise<void> => {
    [extractor] = await startProcessors(iso, bus, ['sentiment-extractor']);
  };
  const publish = (news: readonly NewsItem[]): Promise<void> =>
    bus.publish(news.map((n) => ({ topic: TOPICS.news.name, key: n.id, value: n })));

  it('forgets the oldest articles, in the changelog too, and keeps the newest across a restart', async () => {
    await startExtractor();
    // One at a time, so "least recently seen" is the publishing order across partitions.
    for (const news of items) {
      await publish([news]);
      await waitFor(`a signal for ${news.title}`, async () => scored(news.id) === 1, 20_000, 50);
    }
    await extractor?.stop();
    await startExtractor();

    await publish(items.slice(-WINDOW));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const oldest = items[0]!;
    await publish([oldest]);
    await waitFor('the forgotten oldest article scored again', async () => scored(oldest.id) === 2, 20_000, 50);
    assert.deepEqual(
      items.slice(-WINDOW).map((n) => scored(n.id)),
      [1, 1, 1],
      'the newest articles survived the restart and were skipped',
    );

    // The changelog's last word per article: a tombstone for the forgotten ones.
    const last = new Map<string, Buffer | null>();
    const kafka = new Kafka({ brokers: requireServices().brokers, logLevel: logLevel.NOTHING });
    const reader = kafka.consumer({ groupId: `${iso.id}.changelog-check`, readUncommitted: false });
    await reader.connect();
    try {
      await reader.subscribe({ topic: `${iso.id}.${changelogTopic(EXTRACTOR_NAME).name}`, fromBeginning: true });
      await reader.run({
        eachMessage: async ({ message }) => {
          last.set(message.key?.toString('utf8') ?? '', message.value);
        },
      });
      const forgotten = items.slice(1, ARTICLES - WINDOW);
      await waitFor(
        'tombstones for the forgotten articles',
        async () => forgotten.every((n) => last.get(n.id) === null),
        20_000,
      );
      // Scoring the oldest again took the room of one of the newest (whichever was least
      // recently seen after the restart: they arrived together, over several partitions), and
      // its tombstone went at once, with the transaction of its own task.
      assert.ok(last.get(oldest.id), `a state for ${oldest.title}`);
      const kept = items.slice(-WINDOW).filter((n) => last.get(n.id));
      assert.equal(kept.length, WINDOW - 1, 'the window holds the oldest and all but one of the newest');
      assert.ok(
        items.slice(-WINDOW).every((n) => kept.includes(n) || last.get(n.id) === null),
        'the newest article forgotten has a tombstone',
      );
    } finally {
      await reader.disconnect();
    }
  });
});
