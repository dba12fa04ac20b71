/**
 * The news sources configuration selects, and the sink that publishes their items to the
 * news topic keyed by article id. Live sources (a CryptoPanic key, RSS/Atom feed URLs)
 * when configured; otherwise the replay of the real headline dataset when its file is
 * present; otherwise none, said plainly in the log.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import type { NewsItem } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../bus/bus.ts';
import { CryptoPanicClient } from './cryptopanic.ts';
import { DEFAULT_NEWS_BACKOFF, PollingNewsSource } from './poller.ts';
import { HeadlineReplaySource } from './replay.ts';
import { FeedClient } from './rss.ts';
import type { NewsSink, NewsSource } from './source.ts';

export type NewsSourceChoice = 'auto' | 'cryptopanic' | 'rss' | 'replay';

export function newsSink(bus: Bus): NewsSink {
  return (items) => bus.publish(items.map((value) => ({ topic: TOPICS.news.name, key: value.id, value })));
}

export function newsSourcesFromConfig(
  config: Config,
  logger: Logger,
  choice: NewsSourceChoice = 'auto',
  replay: { path?: string; limit?: number } = {},
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
  return [
    new HeadlineReplaySource({ path, logger: log, ...(replay.limit === undefined ? {} : { limit: replay.limit }) }),
  ];
}
