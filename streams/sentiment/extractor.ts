/**
 * The sentiment extractor: news items in, one SentimentSignal per (article, tagged coin)
 * out, keyed by coin. Stateful per article id, so an article delivered again (a re-poll, a
 * replay after a restart, a Kafka re-delivery) with the same content is not scored twice,
 * and on Kafka its signals are published exactly once with the state that says so. An
 * article whose content changed under the same URL is scored again. Malformed items are
 * dead-lettered by the runtime (INVALID_EVENT). With an LLM, an article it cannot answer
 * usably is scored by the lexicon (named as such); while the LLM is unavailable the scorer
 * holds the article, and beyond LLM_MAX_OUTAGE_MS fails the batch retriably, uncommitted
 * (streams/sentiment/resilient.ts).
 */
import { z } from 'zod';
import { newsItemSchema, sentimentSignalSchema, type SentimentSignal } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import { counter } from '../../lib/metrics.ts';
import type { OutboundRecord, StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import { assertPublishedBy } from '../news/article.ts';
import { tagCoins } from './coins.ts';
import { signalsProduced } from './metrics.ts';
import type { SentimentScorer } from './scorer.ts';

const articles = counter('tickcast_sentiment_articles_total', 'News items the extractor handled, by outcome', [
  'outcome',
]);

export const extractorStateSchema = z.object({ contentHash: z.string().nullable() });
export type ExtractorState = z.infer<typeof extractorStateSchema>;

export const EXTRACTOR_NAME = 'sentiment-extractor';

/**
 * Articles of one news partition scored per transaction. The extractor merges the news
 * topic's three partitions into each coin's signals, and the features processor leaves out
 * a signal more than ALLOWED_LATENESS (7 days) behind its coin's newest. A backlog (a replay,
 * the pile a restarted extractor finds) handled a whole partition at a time put one
 * partition's days of signals ahead of another's, so which features were stored depended on
 * how fetches split the backlog. In steps of 8 the partitions stay within about 24
 * consecutive articles of each other: hours of news, and days only for a feed with fewer
 * than 24 articles a week. News is low-volume, so the extra transactions cost little.
 */
const ARTICLES_PER_BATCH = 8;

export interface ExtractorOptions {
  readonly scorer: SentimentScorer;
  /**
   * Articles remembered for dedupe (the state is per article id, and ids never come back
   * once a story is old): the least recently seen is forgotten first, and only an article
   * delivered again after that many newer ones is scored twice.
   */
  readonly maxArticles: number;
  /**
   * How far ahead of the wall clock an article may be published (EVENT_MAX_AHEAD_MS): the
   * news sources refuse later ones, and so does the extractor for any other producer.
   */
  readonly maxAheadMs: number;
  readonly now?: () => number;
}

export function sentimentExtractor(options: ExtractorOptions): StatefulProcessor<ExtractorState> {
  const now = options.now ?? Date.now;
  return {
    name: EXTRACTOR_NAME,
    inputs: [TOPICS.news.name],
    stateSchema: extractorStateSchema,
    initialState: () => ({ contentHash: null }),
    maxKeys: options.maxArticles,
    maxBatchRecords: ARTICLES_PER_BATCH,
    async process(state, record) {
      const item = decodeValue(newsItemSchema, record);
      if (record.key !== item.id) {
        throw new TickcastError('INVALID_EVENT', `news item ${item.id} arrived under key ${String(record.key)}`);
      }
      assertPublishedBy(item, now(), options.maxAheadMs);
      if (state.contentHash === item.contentHash) {
        articles.inc({ outcome: 'duplicate' });
        return [];
      }
      state.contentHash = item.contentHash;
      const coins = tagCoins(item.title, item.text, item.sourceCoins);
      if (coins.length === 0) {
        articles.inc({ outcome: 'no_coin' });
        return [];
      }
      const scored = await options.scorer.score(item, coins);
      const createdAt = now();
      articles.inc({ outcome: 'scored' });
      return scored.scores.map((s): OutboundRecord => {
        const signal: SentimentSignal = sentimentSignalSchema.parse({
          v: 1,
          articleId: item.id,
          coin: s.coin,
          score: s.score,
          label: s.label,
          confidence: s.confidence,
          reason: s.reason,
          scorer: scored.scorer,
          promptVersion: scored.promptVersion,
          createdAt,
          title: item.title,
          url: item.url,
          source: item.source,
          publishedAt: item.publishedAt,
          contentHash: item.contentHash,
          feed: item.feed,
        });
        signalsProduced.inc({ scorer: scored.scorer.split(':')[0] ?? scored.scorer });
        return { topic: TOPICS.sentimentSignals.name, key: s.coin, value: signal };
      });
    },
  };
}
