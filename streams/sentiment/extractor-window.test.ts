/**
 * The extractor's per-article state is bounded: on a long feed it remembers the
 * `maxArticles` most recently seen articles, so memory stays flat while a re-delivery
 * within that window is still skipped. Runs on the memory bus (one news partition, so
 * records are applied in publish order).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../bus/memory.ts';
import type { RunningTask } from '../bus/bus.ts';
import { toNewsItem } from '../news/article.ts';
import { EXTRACTOR_NAME, sentimentExtractor } from './extractor.ts';
import { LexiconScorer } from './lexicon.ts';
import { sentimentSignalSchema, type NewsItem, type SentimentSignal } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { metricValue } from '../../lib/metrics.ts';

const WINDOW = 100;
const FEED = 1_000;

const item = (n: number): NewsItem =>
  toNewsItem({
    title: `Bitcoin story ${n}`,
    text: '',
    url: `https://news.example/window/${n}`,
    source: 'Example',
    feed: 'replay',
    publishedAt: Date.UTC(2022, 0, 1) + n * 60_000,
  });

describe('sentiment extractor state window', () => {
  const bus = new MemoryBus();
  const tasks: RunningTask[] = [];
  const signals: SentimentSignal[] = [];
  const items = Array.from({ length: FEED }, (_, n) => item(n));

  before(async () => {
    tasks.push(
      await bus.runStateful(sentimentExtractor({ scorer: new LexiconScorer(), maxArticles: WINDOW })),
      await bus.consume({
        groupId: 'window-check',
        topics: [TOPICS.sentimentSignals.name],
        fromBeginning: true,
        handler: async (records) => {
          for (const r of records) signals.push(sentimentSignalSchema.parse(JSON.parse(String(r.value))));
        },
      }),
    );
  });
  after(async () => {
    for (const task of tasks) await task.stop();
  });

  /** Publishes `news` then a fresh marker article, and waits for the marker's signal: everything before it was applied. */
  let markers = 0;
  async function deliver(news: readonly NewsItem[]): Promise<SentimentSignal[]> {
    const marker = item(1_000_000 + markers++);
    const from = signals.length;
    await bus.publish([...news, marker].map((n) => ({ topic: TOPICS.news.name, key: n.id, value: n })));
    for (let waited = 0; !signals.slice(from).some((s) => s.articleId === marker.id); waited += 10) {
      if (waited > 10_000) throw new Error('the marker article was never scored');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return signals.slice(from).filter((s) => s.articleId !== marker.id);
  }

  it('holds at most maxArticles states however long the feed', async () => {
    const scored = await deliver(items);
    assert.equal(scored.length, FEED, 'every new article scored once');
    assert.equal(await metricValue('tickcast_processor_state_keys', { processor: EXTRACTOR_NAME }), WINDOW);
    // The marker made it FEED + 1 articles for WINDOW places.
    assert.equal(
      await metricValue('tickcast_processor_states_evicted_total', { processor: EXTRACTOR_NAME }),
      FEED + 1 - WINDOW,
    );
  });

  it('still skips an article delivered again within the window', async () => {
    const recent = items.slice(-(WINDOW - 2));
    assert.deepEqual(await deliver(recent), [], 'no article of the window is scored twice');
    assert.equal(await metricValue('tickcast_processor_state_keys', { processor: EXTRACTOR_NAME }), WINDOW);
  });

  it('scores an article again once it has left the window', async () => {
    const first = items[0]!;
    assert.deepEqual(
      (await deliver([first])).map((s) => s.articleId),
      [first.id],
    );
  });
});
