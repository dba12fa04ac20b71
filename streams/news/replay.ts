/**
 * Replays the real headline dataset as news items, oldest first, in batches, as fast as
 * the sink takes them. Rows without a title (28 in the file) cannot become a news item and
 * are counted as skipped; duplicates (same URL or same title and text) go out once.
 */
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { NewsItem } from '../../schema/events.ts';
import { toNewsItem } from './article.ts';
import { SeenArticles } from './dedupe.ts';
import { loadHeadlines, type HeadlineRow } from './headlines-csv.ts';
import { newsItems } from './metrics.ts';
import type { NewsSink, NewsSource } from './source.ts';
import { z } from 'zod';
import type { ReplayPosition } from '../sources/replay-position.ts';

export interface HeadlineReplayOptions {
  readonly path: string;
  /** Only rows published at or after / before these times (epoch ms). */
  readonly from?: number;
  readonly to?: number;
  /** At most this many items (after filtering), oldest first. */
  readonly limit?: number;
  readonly batchSize?: number;
  readonly logger: Logger;
  /**
   * Where a previous run stopped: rows of the file (oldest first) before `nextRow` were
   * published. Rows re-sent after a crash keep their content-hash ids, so the store keeps one.
   */
  readonly position?: ReplayPosition<HeadlinePosition>;
}

export const headlinePositionSchema = z.object({ nextRow: z.number().int().nonnegative() });
export type HeadlinePosition = z.infer<typeof headlinePositionSchema>;

export function headlineItem(row: HeadlineRow): NewsItem {
  return toNewsItem({
    title: row.title,
    text: row.text,
    url: row.url || null,
    source: row.source,
    feed: 'replay',
    publishedAt: row.publishedAt,
  });
}

export class HeadlineReplaySource implements NewsSource {
  readonly name = 'replay';

  constructor(private readonly options: HeadlineReplayOptions) {}

  async start(sink: NewsSink, signal: AbortSignal): Promise<void> {
    const { path, from = -Infinity, to = Infinity, limit = Infinity, batchSize = 200, logger, position } = this.options;
    const { rows, unreadable } = await loadHeadlines(path);
    const firstRow = (await position?.load())?.nextRow ?? 0;
    if (firstRow > 0) logger.info({ path, firstRow }, 'headline replay resumes after its saved position');
    const seen = new SeenArticles(rows.length + 1);
    let batch: NewsItem[] = [];
    let published = 0;
    let skipped = unreadable;
    let duplicates = 0;
    let nextRow = firstRow;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await sink(batch);
      newsItems.inc({ source: this.name }, batch.length);
      published += batch.length;
      batch = [];
      await position?.acknowledged({ nextRow });
    };
    for (const row of rows.slice(firstRow)) {
      if (signal.aborted || published + batch.length >= limit) break;
      nextRow += 1;
      if (row.publishedAt < from || row.publishedAt >= to) continue;
      let item: NewsItem;
      try {
        item = headlineItem(row);
      } catch (error) {
        if (!(error instanceof TickcastError)) throw error;
        skipped += 1;
        continue;
      }
      if (!seen.firstSighting(item)) {
        duplicates += 1;
        continue;
      }
      batch.push(item);
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    await position?.flush();
    logger.info({ path, published, skipped, duplicates }, 'headline replay finished');
  }
}
