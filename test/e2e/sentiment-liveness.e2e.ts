/**
 * A sentiment batch that takes longer than the consumer's session timeout, on real Kafka:
 * the LLM answers slowly (the local OpenAI-compatible fake, `slow`), five articles of one
 * partition arrive in one batch, and the session timeout is the broker's minimum (6 s)
 * while the batch takes about 10 s. The extractor keeps heartbeating while it waits on the
 * LLM, so it is never dropped from its group (one join, no rebalance) and every article
 * is scored by the LLM and published exactly once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Partitioners } from 'kafkajs';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { createBus } from '../../streams/runtime.ts';
import { toNewsItem } from '../../streams/news/article.ts';
import { EXTRACTOR_NAME } from '../../streams/sentiment/extractor.ts';
import { sentimentSignalSchema, type NewsItem, type SentimentSignal } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { metricValue } from '../../lib/metrics.ts';
import { startOpenAiFake, type OpenAiFake } from '../support/openai-fake.ts';
import { startProcessors } from '../support/pipeline.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const ARTICLES = 5;
const LLM_DELAY_MS = 2_000;
const SESSION_TIMEOUT_MS = 6_000;

/** The partition kafkajs' default partitioner (the bus's) gives a key on the news topic. */
function newsPartition(key: string): number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: TOPICS.news.partitions }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));
  return partitioner({ topic: TOPICS.news.name, partitionMetadata, message: { key, value: null } });
}

/** `count` Bitcoin articles that all land on partition 0 of the news topic: one batch for the extractor. */
function onePartitionOfArticles(count: number): NewsItem[] {
  const items: NewsItem[] = [];
  for (let n = 0; items.length < count; n++) {
    const item = toNewsItem({
      title: `Bitcoin rally number ${n}`,
      text: 'Bitcoin holders watched.',
      url: `https://news.example/liveness/${n}`,
      source: 'Example',
      feed: 'replay',
      publishedAt: Date.UTC(2022, 4, 9, 12, n),
    });
    if (newsPartition(item.id) === 0) items.push(item);
  }
  return items;
}

describe('sentiment extractor over real Kafka with batches longer than the session timeout', () => {
  let fake: OpenAiFake;
  let iso: Isolation;
  let bus: Bus;
  const tasks: RunningTask[] = [];

  before(async () => {
    fake = await startOpenAiFake('sk-liveness');
    await fake.setDefault({ kind: 'slow', delayMs: LLM_DELAY_MS });
    iso = await isolate('liveness', {
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      LLM_BASE_URL: fake.url,
      LLM_MODEL: 'fake-model',
      LLM_API_KEY: fake.key,
      LLM_TIMEOUT_MS: '10000',
      LLM_MAX_RETRIES: '0',
    });
    bus = await createBus(iso.config, testLogger);
  });
  after(async () => {
    for (const task of tasks) await task.stop();
    await bus?.close();
    await iso?.close();
    await fake?.stop();
  });

  it('stays in its group and scores every article exactly once', async () => {
    const items = onePartitionOfArticles(ARTICLES);
    await bus.publish(items.map((item) => ({ topic: TOPICS.news.name, key: item.id, value: item })));

    const signals: SentimentSignal[] = [];
    tasks.push(
      await bus.consume({
        groupId: 'liveness-check',
        topics: [TOPICS.sentimentSignals.name],
        fromBeginning: true,
        handler: async (records) => {
          for (const r of records)
            signals.push(sentimentSignalSchema.parse(JSON.parse(r.value?.toString('utf8') ?? '')));
        },
      }),
    );
    const started = Date.now();
    tasks.push(...(await startProcessors(iso, bus, ['sentiment-extractor'])));
    await waitFor('a signal per article', async () => signals.length >= ARTICLES, 60_000);
    const batchMs = Date.now() - started;
    // Long enough for a re-delivered batch (after a rebalance) to show up as duplicates.
    await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS));

    assert.ok(batchMs > SESSION_TIMEOUT_MS, `the batch took ${batchMs} ms, not longer than the session timeout`);
    assert.deepEqual(signals.map((s) => s.articleId).sort(), items.map((i) => i.id).sort(), 'each article once');
    assert.ok(
      signals.every((s) => s.scorer === 'llm:fake-model'),
      'scored by the LLM, not the fallback',
    );
    assert.equal(await metricValue('tickcast_bus_group_joins_total', { group: EXTRACTOR_NAME }), 1, 'no rebalance');
    assert.equal((await fake.requests()).length, ARTICLES, 'one LLM call per article');
  });
});
