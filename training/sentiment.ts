/**
 * Sentiment as extra model inputs: the feature store's rolling news sentiment for the
 * pair's coin, joined as of each candle's close. For the candle opening at t the row used
 * per window is the newest with as_of < t + 1 minute (published by the candle's close, so
 * nothing later leaks in); a row whose window no longer reaches the candle (as_of <= close
 * − window) means no article in the window: mean 0, count 0, ratios 0. Counts enter as
 * log1p so a news-heavy day does not dwarf the other inputs.
 *
 * Rows are only written when a signal arrives, so between articles a window's values are
 * those at the last article: an approximation a stored per-minute series would remove.
 */
import type pg from 'pg';
import { MINUTE_MS, type DatasetOptions, type SeriesPoint } from './dataset.ts';

export const SENTIMENT_WINDOWS = { '1h': 3_600_000, '4h': 14_400_000, '24h': 86_400_000 } as const;
type WindowName = keyof typeof SENTIMENT_WINDOWS;
const WINDOW_NAMES = Object.keys(SENTIMENT_WINDOWS) as WindowName[];

export const SENTIMENT_FEATURE_NAMES: readonly string[] = WINDOW_NAMES.flatMap((w) => [
  `sentiment_mean_${w}`,
  `sentiment_log_count_${w}`,
  `sentiment_bullish_${w}`,
  `sentiment_bearish_${w}`,
]);

export interface SentimentRow {
  readonly window: WindowName;
  /** Epoch ms. */
  readonly asOf: number;
  readonly meanScore: number;
  readonly count: number;
  readonly bullishRatio: number;
  readonly bearishRatio: number;
}

/** Index of the last row with asOf < before, or -1 (rows sorted by asOf). */
function lastBefore(rows: readonly SentimentRow[], before: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.asOf < before) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The 12 sentiment inputs at the close of the candle opening at `openTime`. */
export function sentimentAt(byWindow: ReadonlyMap<WindowName, readonly SentimentRow[]>, openTime: number): number[] {
  const close = openTime + MINUTE_MS;
  return WINDOW_NAMES.flatMap((w) => {
    const rows = byWindow.get(w) ?? [];
    const row = rows[lastBefore(rows, close)];
    if (row === undefined || row.asOf <= close - SENTIMENT_WINDOWS[w] || row.count === 0) return [0, 0, 0, 0];
    return [row.meanScore, Math.log1p(row.count), row.bullishRatio, row.bearishRatio];
  });
}

/** Dataset options adding the sentiment inputs; null when there are no rows (nothing to learn from). */
export function sentimentDatasetOptions(rows: readonly SentimentRow[]): DatasetOptions | null {
  if (rows.length === 0) return null;
  const byWindow = new Map<WindowName, SentimentRow[]>(WINDOW_NAMES.map((w) => [w, []]));
  for (const row of rows) byWindow.get(row.window)?.push(row);
  for (const list of byWindow.values()) list.sort((a, b) => a.asOf - b.asOf);
  return {
    extraNames: SENTIMENT_FEATURE_NAMES,
    extra: (point: SeriesPoint) => sentimentAt(byWindow, point.openTime),
  };
}

/** The coin's sentiment_features rows from the feature store. */
export async function sentimentFromStore(pool: pg.Pool, coin: string): Promise<SentimentRow[]> {
  const { rows } = await pool.query<SentimentRow>(
    `SELECT window_name AS "window", (extract(epoch FROM as_of) * 1000)::float8 AS "asOf",
            mean_score AS "meanScore", count, bullish_ratio AS "bullishRatio", bearish_ratio AS "bearishRatio"
       FROM sentiment_features WHERE coin = $1 ORDER BY as_of`,
    [coin],
  );
  return rows;
}

/**
 * The 12 sentiment inputs for the candle opening at `openTime`, read from the feature store
 * as the predictor needs them live: the newest row per window published by the candle's
 * close, under the same rules as `sentimentAt` (so serving matches training).
 */
export async function sentimentAtFromStore(pool: pg.Pool, coin: string, openTime: number): Promise<number[]> {
  const close = openTime + MINUTE_MS;
  const { rows } = await pool.query<SentimentRow>(
    `SELECT DISTINCT ON (window_name) window_name AS "window", (extract(epoch FROM as_of) * 1000)::float8 AS "asOf",
            mean_score AS "meanScore", count, bullish_ratio AS "bullishRatio", bearish_ratio AS "bearishRatio"
       FROM sentiment_features WHERE coin = $1 AND as_of < to_timestamp($2 / 1000.0)
      ORDER BY window_name, as_of DESC`,
    [coin, close],
  );
  return sentimentAt(new Map(rows.map((row) => [row.window, [row]])), openTime);
}
