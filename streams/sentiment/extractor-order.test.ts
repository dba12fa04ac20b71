/**
 * A backlog of news (a replay, or the pile a restarted extractor finds) spread over the
 * news topic's three partitions: the extractor works through the partitions in step, so a
 * coin's signals reach the features processor at most a few batches out of publish order,
 * never the days that one partition's whole backlog ahead of another's would put them
 * (the features processor leaves out a signal more than ALLOWED_LATENESS behind its coin's
 * newest). Found by the kill -9 test: after a crash, features were missing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../bus/memory.ts';
import type { RunningTask } from '../bus/bus.ts';
import { toNewsItem } from '../news/article.ts';
import { sentimentExtractor } from './extractor.ts';
import { sentimentFeaturesProcessor } from './features.ts';
import { LexiconScorer } from './lexicon.ts';
import { ALLOWED_LATENESS } from './rolling.ts';
import { sentimentFeatureSchema, sentimentSignalSchema } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';

/** One Bitcoin article every 72 minutes for 15 days: twice ALLOWED_LATENESS. */
const ARTICLES = 300;
const SPACING_MS = 72 * 60_000;
const FIRST = Date.UTC(2022, 4, 1);

describe('sentiment extractor over a partitioned backlog', () => {
  const bus = new MemoryBus();
  const tasks: RunningTask[] = [];
  const signalTimes: number[] = [];
  const featureTimes = new Set<number>();

  before(async () => {
    await bus.ensureTopics([TOPICS.news, TOPICS.sentimentSignals, TOPICS.sentimentFeatures]);
    // The whole backlog is on the topic before the extractor starts, as after a restart.
    await bus.publish(
      Array.from({ length: ARTICLES }, (_, n) =>
        toNewsItem({
          title: `Bitcoin rallies in story ${n}`,
          text: '',
          url: `https://news.example/backlog/${n}`,
          source: 'Example',
          feed: 'replay',
          publishedAt: FIRST + n * SPACING_MS,
        }),
      ).map((item) => ({ topic: TOPICS.news.name, key: item.id, value: item })),
    );
    tasks.push(
      await bus.runStateful(
        sentimentExtractor({ scorer: new LexiconScorer(), maxArticles: 1_000, maxAheadMs: 300_000 }),
      ),
      await bus.runStateful(sentimentFeaturesProcessor()),
      await bus.consume({
        groupId: 'order-check',
        topics: [TOPICS.sentimentSignals.name, TOPICS.sentimentFeatures.name],
        fromBeginning: true,
        handler: async (records) => {
          for (const r of records) {
            const value: unknown = JSON.parse(String(r.value));
            if (r.topic === TOPICS.sentimentSignals.name)
              signalTimes.push(sentimentSignalSchema.parse(value).publishedAt);
            else featureTimes.add(sentimentFeatureSchema.parse(value).asOf);
          }
        },
      }),
    );
    for (let waited = 0; signalTimes.length < ARTICLES || featureTimes.size < ARTICLES; waited += 10) {
      if (waited > 10_000) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });
  after(async () => {
    for (const task of tasks) await task.stop();
  });

  it('emits every signal well within ALLOWED_LATENESS of the newest before it', () => {
    assert.equal(signalTimes.length, ARTICLES);
    let newest = -Infinity;
    let worst = 0;
    for (const at of signalTimes) {
      newest = Math.max(newest, at);
      worst = Math.max(worst, newest - at);
    }
    assert.ok(worst < ALLOWED_LATENESS / 2, `a signal arrived ${(worst / 86_400_000).toFixed(1)} days late`);
  });

  it('stores features as of every article', () => {
    assert.equal(featureTimes.size, ARTICLES);
  });
});
