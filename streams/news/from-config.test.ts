import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../bus/memory.ts';
import type { InboundRecord } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import { metricValue } from '../../lib/metrics.ts';
import { deadLetterSchema, newsItemSchema, type DeadLetter, type NewsItem } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { toNewsItem } from './article.ts';
import { newsSink } from './from-config.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0);
const item = (title: string, publishedAt: number): NewsItem =>
  toNewsItem({ title, text: 'Lede.', url: null, source: 'CoinTelegraph', feed: 'rss', publishedAt });

describe('news sink', () => {
  it('dead-letters an item published more than the allowance ahead of the wall clock, and publishes the rest', async () => {
    const bus = new MemoryBus();
    const news: NewsItem[] = [];
    const deadLetters: DeadLetter[] = [];
    const consumer = await bus.consume({
      groupId: 'test',
      topics: [TOPICS.news.name, TOPICS.deadLetters.name],
      fromBeginning: true,
      handler: async (records: readonly InboundRecord[]) => {
        for (const r of records) {
          if (r.topic === TOPICS.news.name) news.push(decodeValue(newsItemSchema, r));
          else deadLetters.push(decodeValue(deadLetterSchema, r));
        }
      },
    });
    const before = await metricValue('tickcast_news_items_rejected_total', { reason: 'ahead_of_wall_clock' });
    const items = [
      item('BTC rallies', NOW - 3_600_000),
      // Within the allowance: clock skew between the feed and this host.
      item('ETH steady', NOW + 299_000),
      item('Typo in the year', Date.UTC(2062, 0, 1)),
      item('Tomorrow, today', NOW + 86_400_000),
    ];
    await newsSink(bus, 300_000, () => NOW)(items);
    while (news.length + deadLetters.length < 4) await new Promise((resolve) => setTimeout(resolve, 20));
    await consumer.stop();
    await bus.close();

    assert.deepEqual(news.map((n) => n.title).sort(), ['BTC rallies', 'ETH steady']);
    assert.deepEqual(
      deadLetters.map((d) => [d.code, d.processor, d.topic, d.key, newsItemSchema.parse(JSON.parse(d.value!)).title]),
      [
        ['FUTURE_EVENT', 'news', TOPICS.news.name, items[2]!.id, 'Typo in the year'],
        ['FUTURE_EVENT', 'news', TOPICS.news.name, items[3]!.id, 'Tomorrow, today'],
      ],
    );
    assert.match(deadLetters[0]!.message, /2062-01-01T00:00:00.000Z, more than 300000 ms ahead of the wall clock/);
    assert.equal(
      (await metricValue('tickcast_news_items_rejected_total', { reason: 'ahead_of_wall_clock' })) - before,
      2,
    );
  });
});
