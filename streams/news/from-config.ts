/**
 * The news sources configuration selects, and the sink that publishes their items to the
 * news topic keyed by article id. Live sources (a CryptoPanic key, RSS/Atom feed URLs)
 * when configured; otherwise the replay of the real headline dataset when its file is
 * present; otherwise none, said plainly in the log.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { DeadLetter, NewsItem } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, OutboundRecord } from '../bus/bus.ts';
import { assertPublishedBy } from './article.ts';
import { newsItemsRejected } from './metrics.ts';
import { CryptoPanicClient } from './cryptopanic.ts';
import { DEFAULT_NEWS_BACKOFF, PollingNewsSource } from './poller.ts';
import { HeadlineReplaySource, headlinePositionSchema } from './replay.ts';
import { replayPosition } from '../sources/replay-position.ts';
import { FeedClient } from './rss.ts';
import type { NewsSink, NewsSource } from './source.ts';

export type NewsSourceChoice = 'auto' | 'cryptopanic' | 'rss' | 'replay';

/**
 * Publishes items to the news topic; one stamped more than `maxAheadMs` ahead of the wall
 * clock goes to the dead-letter topic instead (FUTURE_EVENT, counted), for every source alike.
 */
export function newsSink(bus: Bus, maxAheadMs: number, now: () => number = Date.now): NewsSink {
  return (items) => {
    const at = now();
    return bus.publish(
      items.map((item): OutboundRecord => {
        try {
          assertPublishedBy(item, at, maxAheadMs);
        } catch (error) {
          if (!(error instanceof TickcastError)) throw error;
          newsItemsRejected.inc({ feed: item.feed, reason: 'ahead_of_wall_clock' });
          return { topic: TOPICS.deadLetters.name, key: TOPICS.news.name, value: unpublished(item, error, at) };
        }
        return { topic: TOPICS.news.name, key: item.id, value: item };
      }),
    );
  };
}

/** A dead letter for an item rejected before it reached the news topic: no partition or offset (-1, ""). */
function unpublished(item: NewsItem, error: TickcastError, at: number): DeadLetter {
  return {
    v: 1,
    topic: TOPICS.news.name,
    partition: -1,
    offset: '',
    key: item.id,
    value: JSON.stringify(item),
    code: error.code,
    message: error.message,
    processor: 'news',
    at,
  };
}

export function newsSourcesFromConfig(
  config: Config,
  logger: Logger,
  choice: NewsSourceChoice = 'auto',
  replay: { path?: string; limit?: number; fromStart?: boolean } = {},
): NewsSource[] {
  const log = logger.child({ component: 'news' });
  const poller = (name: string, fetchOnce: () => Promise<{ items: NewsItem[] }>): NewsSource =>
    new PollingNewsSource({
      name,
      intervalMs: config.NEWS_POLL_INTERVAL_MS,
      backoff: DEFAULT_NEWS_BACKOFF,
      logger: log,
      fetchOnce: async () => (await fetchOnce()).items,
    });
  const live: NewsSource[] = [];
  if ((choice === 'auto' || choice === 'cryptopanic') && config.NEWS_CRYPTOPANIC_TOKEN) {
    const client = new CryptoPanicClient({
      baseUrl: config.NEWS_CRYPTOPANIC_URL,
      token: config.NEWS_CRYPTOPANIC_TOKEN,
      timeoutMs: config.NEWS_HTTP_TIMEOUT_MS,
    });
    live.push(poller('cryptopanic', () => client.fetchPosts()));
  }
  if (choice === 'auto' || choice === 'rss') {
    for (const url of config.NEWS_RSS_FEEDS ?? []) {
      const client = new FeedClient(url, config.NEWS_HTTP_TIMEOUT_MS);
      live.push(poller(`rss:${new URL(url).hostname}`, () => client.fetchItems()));
    }
  }
  if (choice === 'cryptopanic' || choice === 'rss' || live.length > 0) {
    if (live.length === 0)
      log.warn({ choice }, 'news source chosen but not configured (NEWS_CRYPTOPANIC_TOKEN / NEWS_RSS_FEEDS)');
    return live;
  }
  const path = replay.path ?? config.NEWS_REPLAY_FILE;
  if (!existsSync(path)) {
    log.warn({ path }, 'no news source: no live source configured and no headline dataset to replay');
    return [];
  }
  log.info({ path }, 'news: replaying the real headline dataset (no live source configured)');
  // A headline replay continues where the previous run on this data directory stopped.
  const position = replayPosition(config, 'news', path, [replay.limit ?? null], headlinePositionSchema);
  return [
    new HeadlineReplaySource({
      path,
      logger: log,
      ...(replay.limit === undefined ? {} : { limit: replay.limit }),
      ...(replay.fromStart === true ? {} : { position }),
    }),
  ];
}
