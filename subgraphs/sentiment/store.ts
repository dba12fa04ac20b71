/**
 * SQL of the sentiment subgraph: news_articles, sentiment_signals and sentiment_features
 * (schema/sql/postgres/002_trades_predictions_sentiment.sql). Every read goes through
 * `pool.query`, one statement per call, so a request's queries can be counted.
 */
import type pg from 'pg';
import type {
  NewsArticle,
  SentimentLabel,
  SentimentSignal,
  SentimentSummary,
  SentimentWindow,
} from './generated/resolvers.ts';

/**
 * An object of a type whose remaining fields have their own resolvers (NewsArticle.signals,
 * SentimentSignal.article). codegen.ts maps no types, so the generated types demand every
 * field, the resolved ones included, hence the assertion. Those fields are never read from
 * these objects.
 */
function partial<T>(fields: Partial<T>): T {
  return fields as T;
}

// --- sentiment_features ---------------------------------------------------------------

const WINDOW_NAMES: Record<SentimentWindow, string> = { H1: '1h', H4: '4h', H24: '24h' };

/** The market's base coin: "BTC/USD" -> "BTC"; null for a pair that is not BASE/QUOTE. */
export function baseCoin(pair: string): string | null {
  const [base, quote, ...rest] = pair.split('/');
  return base && quote && rest.length === 0 ? base : null;
}

export interface SummaryKey {
  readonly coin: string;
  readonly window: SentimentWindow;
}

export const summaryKeyId = (k: SummaryKey): string => JSON.stringify([k.coin, k.window]);

interface FeatureRow {
  coin: string;
  window_name: string;
  as_of: Date;
  mean_score: number;
  count: number;
  bullish_ratio: number;
  bearish_ratio: number;
}

/**
 * The newest sentiment_features row of each (coin, window), in the order of `keys`, in one
 * statement; null where there is none, or where it counted no article (its mean and ratios
 * describe nothing then, and the API says null when no article scored in the window).
 */
export async function latestSummaries(
  pool: pg.Pool,
  keys: readonly SummaryKey[],
): Promise<(SentimentSummary | null)[]> {
  // A LATERAL subquery per key reads the first row of the (coin, window_name, as_of) primary
  // key backwards; `DISTINCT ON` over a join would sort every row of the requested coins.
  const { rows } = await pool.query<FeatureRow>(
    `SELECT f.coin, f.window_name, f.as_of, f.mean_score, f.count, f.bullish_ratio, f.bearish_ratio
       FROM unnest($1::text[], $2::text[]) AS k(coin, window_name)
       CROSS JOIN LATERAL (
         SELECT * FROM sentiment_features s
          WHERE s.coin = k.coin AND s.window_name = k.window_name
          ORDER BY s.as_of DESC
          LIMIT 1
       ) f`,
    [keys.map((k) => k.coin), keys.map((k) => WINDOW_NAMES[k.window])],
  );
  const byKey = new Map(rows.map((row) => [JSON.stringify([row.coin, row.window_name]), row]));
  return keys.map((k) => {
    const row = byKey.get(JSON.stringify([k.coin, WINDOW_NAMES[k.window]]));
    if (!row || row.count === 0) return null;
    return {
      coin: row.coin,
      window: k.window,
      meanScore: row.mean_score,
      count: row.count,
      bullishRatio: row.bullish_ratio,
      bearishRatio: row.bearish_ratio,
      asOf: row.as_of.toISOString(),
    };
  });
}

// --- news_articles ----------------------------------------------------------------------

interface ArticleRow {
  id: string;
  title: string;
  url: string | null;
  source: string;
  published_at: Date;
  feed: string | null;
}

const ARTICLE_COLUMNS = 'a.id, a.title, a.url, a.source, a.published_at, a.feed';

function toArticle(row: ArticleRow): NewsArticle {
  return partial<NewsArticle>({
    id: row.id,
    title: row.title,
    url: row.url,
    source: row.source,
    publishedAt: row.published_at.toISOString(),
    replayed: row.feed === 'replay',
  });
}

/** A NewsArticle reference `{ id }`; NewsArticle's __resolveReference loads the rest. */
export const articleReference = (id: string): NewsArticle => partial<NewsArticle>({ id });

/** An article carried by a live signal event: every stored field but `signals` (which has its own resolver). */
export const liveArticle = (fields: Omit<NewsArticle, 'signals'>): NewsArticle => partial<NewsArticle>(fields);

/** Whether an article object already has its stored fields (a live one), or is a bare reference. */
export const isLiveArticle = (article: NewsArticle): boolean => typeof article.title === 'string';

/** Articles by id, in the order of `ids`; null where there is none. */
export async function articlesById(pool: pg.Pool, ids: readonly string[]): Promise<(NewsArticle | null)[]> {
  const { rows } = await pool.query<ArticleRow>(
    `SELECT ${ARTICLE_COLUMNS} FROM news_articles a WHERE a.id = ANY($1::text[])`,
    [ids],
  );
  const byId = new Map(rows.map((row) => [row.id, toArticle(row)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** The newest `limit` articles; with `coin`, only those with a signal for that coin. */
export async function newestArticles(pool: pg.Pool, coin: string | null, limit: number): Promise<NewsArticle[]> {
  const { rows } = await pool.query<ArticleRow>(
    `SELECT ${ARTICLE_COLUMNS}
       FROM news_articles a
      WHERE $1::text IS NULL
         OR EXISTS (SELECT 1 FROM sentiment_signals s WHERE s.article_id = a.id AND s.coin = $1)
      ORDER BY a.published_at DESC, a.id
      LIMIT $2`,
    [coin, limit],
  );
  return rows.map(toArticle);
}

// --- sentiment_signals ------------------------------------------------------------------

interface SignalRow {
  article_id: string;
  coin: string;
  score: number;
  label: string;
  confidence: number;
  reason: string;
  scorer: string;
  prompt_version: string | null;
  created_at: Date;
}

const SIGNAL_COLUMNS =
  's.article_id, s.coin, s.score, s.label, s.confidence, s.reason, s.scorer, s.prompt_version, s.created_at';

const LABELS: Record<string, SentimentLabel> = { bullish: 'BULLISH', neutral: 'NEUTRAL', bearish: 'BEARISH' };

export function toLabel(label: string): SentimentLabel {
  const mapped = LABELS[label];
  if (!mapped) throw new Error(`sentiment_signals.label ${JSON.stringify(label)} is not a known label`);
  return mapped;
}

function toSignal(row: SignalRow): SentimentSignal {
  return {
    coin: row.coin,
    score: row.score,
    label: toLabel(row.label),
    confidence: row.confidence,
    reason: row.reason,
    scorer: row.scorer,
    promptVersion: row.prompt_version,
    createdAt: row.created_at.toISOString(),
    article: articleReference(row.article_id),
  };
}

/** Every article's signals, in the order of `articleIds`; newest first, then by coin and scorer. */
export async function signalsByArticle(pool: pg.Pool, articleIds: readonly string[]): Promise<SentimentSignal[][]> {
  const { rows } = await pool.query<SignalRow>(
    `SELECT ${SIGNAL_COLUMNS} FROM sentiment_signals s WHERE s.article_id = ANY($1::text[])
      ORDER BY s.created_at DESC, s.coin, s.scorer`,
    [articleIds],
  );
  const byArticle = new Map<string, SentimentSignal[]>(articleIds.map((id) => [id, []]));
  for (const row of rows) byArticle.get(row.article_id)?.push(toSignal(row));
  return articleIds.map((id) => byArticle.get(id) ?? []);
}

/** The newest `limit` signals for `coin`. */
export async function newestSignals(pool: pg.Pool, coin: string, limit: number): Promise<SentimentSignal[]> {
  const { rows } = await pool.query<SignalRow>(
    `SELECT ${SIGNAL_COLUMNS} FROM sentiment_signals s WHERE s.coin = $1
      ORDER BY s.created_at DESC, s.article_id, s.scorer
      LIMIT $2`,
    [coin, limit],
  );
  return rows.map(toSignal);
}
