/** Metrics of the news sources (the Grafana dashboards chart these names). */
import { counter } from '../../lib/metrics.ts';

export const newsItems = counter('tickcast_news_items_total', 'News items published to the bus, by source', ['source']);
export const newsPolls = counter('tickcast_news_polls_total', 'Polls of a news API or feed, by source and outcome', [
  'source',
  'outcome',
]);
/**
 * News refused before the bus: a feed's malformed entry (no title, unreadable date,
 * off-schema: reason `malformed`) or an item dated ahead of the wall clock.
 */
export const newsItemsRejected = counter(
  'tickcast_news_items_rejected_total',
  'News entries refused instead of published, by feed and reason',
  ['feed', 'reason'],
);
