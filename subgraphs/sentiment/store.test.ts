import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../lib/logger.ts';
import { openMigratedMemoryStore } from '../../streams/store/memory-store.ts';
import { headlineItem } from '../../streams/news/replay.ts';
import { articlesById } from './store.ts';
import { upsertArticles, upsertSignals } from '../../streams/sentiment/store.ts';

const logger = createLogger('silent');

describe('replayed news as stored and served', () => {
  it('keeps the dataset publication time and the replay mark, even when a signal without a feed rewrites the row', async () => {
    const database = await openMigratedMemoryStore(logger);
    try {
      const publishedAt = Date.UTC(2021, 9, 12, 8, 30);
      const item = headlineItem({
        title: 'Bitcoin tops $57,000',
        text: 'BTC rallied.',
        url: 'https://example.com/btc',
        source: 'CoinDesk',
        publishedAt,
        subject: 'bitcoin',
        sentiment: null,
        line: 2,
      });
      await upsertArticles(database.pool, [item]);
      // A signal written by an extractor that predates the feed field carries no feed.
      await upsertSignals(database.pool, [
        {
          v: 1,
          articleId: item.id,
          coin: 'BTC',
          score: 0.5,
          label: 'BULLISH',
          confidence: 0.8,
          reason: 'rally',
          scorer: 'lexicon:1',
          promptVersion: null,
          createdAt: Date.now(),
          title: item.title,
          url: item.url,
          source: item.source,
          publishedAt: item.publishedAt,
          contentHash: item.contentHash,
        },
      ]);
      const [article] = await articlesById(database.pool, [item.id]);
      assert.equal(article?.publishedAt, new Date(publishedAt).toISOString());
      assert.equal(article?.replayed, true);
    } finally {
      await database.close();
    }
  });
});
