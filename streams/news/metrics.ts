/** Metrics of the news sources (the Grafana dashboards chart these names). */
import { counter } from '../../lib/metrics.ts';

export const newsItems = counter('tickcast_news_items_total', 'News items published to the bus, by source', ['source']);
export const newsPolls = counter('tickcast_news_polls_total', 'Polls of a news API or feed, by source and outcome', [
  'source',
  'outcome',
]);
/** Counted where a feed's entry is refused (no title, no readable date, off-schema), so a bad feed shows up. */
export const newsItemsRejected = counter(
  'tickcast_news_items_rejected_total',
  'News entries or posts refused as malformed (no title, unreadable date, off-schema), by feed',
  ['feed'],
);
