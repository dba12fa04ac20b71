/**
 * The sentiment store writer: news items, signals and features from the bus into the
 * feature store, at-least-once with idempotent upserts (store.ts). A record no schema
 * accepts is dead-lettered; a failed write fails the batch, which is retried.
 */
import type pg from 'pg';
import {
  newsItemSchema,
  sentimentFeatureSchema,
  sentimentSignalSchema,
  type NewsItem,
  type SentimentFeature,
  type SentimentSignal,
} from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { Bus, RunningTask } from '../bus/bus.ts';
import { takeOrDeadLetter } from '../bus/batch.ts';
import { decodeValue } from '../bus/codec.ts';
import { upsertArticles, upsertFeatures, upsertSignals } from './store.ts';

const rowsWritten = counter('tickcast_store_rows_written_total', 'Rows upserted into the feature store', ['table']);

export const WRITER_NAME = 'sentiment-writer';

export async function startSentimentWriter(bus: Bus, pool: pg.Pool, logger: Logger): Promise<RunningTask> {
  const log = logger.child({ processor: WRITER_NAME });
  return bus.consume({
    groupId: WRITER_NAME,
    topics: [TOPICS.news.name, TOPICS.sentimentSignals.name, TOPICS.sentimentFeatures.name],
    fromBeginning: true,
    handler: async (records) => {
      const articles: NewsItem[] = [];
      const signals: SentimentSignal[] = [];
      const features: SentimentFeature[] = [];
      const rejected = takeOrDeadLetter(WRITER_NAME, records, log, (record) => {
        if (record.topic === TOPICS.news.name) articles.push(decodeValue(newsItemSchema, record));
        else if (record.topic === TOPICS.sentimentSignals.name)
          signals.push(decodeValue(sentimentSignalSchema, record));
        else features.push(decodeValue(sentimentFeatureSchema, record));
      });
      try {
        await upsertArticles(pool, articles);
        await upsertSignals(pool, signals);
        await upsertFeatures(pool, features);
      } catch (cause) {
        throw new TickcastError('STORE_UNAVAILABLE', `sentiment write failed: ${(cause as Error).message}`, { cause });
      }
      if (rejected.length > 0) await bus.publish(rejected);
      rowsWritten.inc({ table: 'news_articles' }, articles.length);
      rowsWritten.inc({ table: 'sentiment_signals' }, signals.length);
      rowsWritten.inc({ table: 'sentiment_features' }, features.length);
    },
  });
}
