/**
 * Upserts into the sentiment tables of the feature store (schema/sql/postgres/002):
 * news_articles by id, sentiment_signals by (article, coin, scorer), sentiment_features by
 * (coin, window, as_of). Re-delivered batches rewrite identical rows.
 */
import type pg from 'pg';
import type { NewsItem, SentimentFeature, SentimentSignal } from '../../schema/events.ts';

type ArticleRow = Pick<NewsItem, 'id' | 'title' | 'url' | 'source' | 'publishedAt' | 'contentHash'> & {
  readonly feed?: NewsItem['feed'] | undefined;
};

export async function upsertArticles(pool: pg.Pool, articles: readonly ArticleRow[]): Promise<void> {
  if (articles.length === 0) return;
  const unique = [...new Map(articles.map((a) => [a.id, a])).values()];
  await pool.query(
    `INSERT INTO news_articles (id, title, url, source, published_at, content_hash, feed)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
     ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, url = EXCLUDED.url, source = EXCLUDED.source,
       published_at = EXCLUDED.published_at, content_hash = EXCLUDED.content_hash,
       feed = COALESCE(EXCLUDED.feed, news_articles.feed)`,
    [
      unique.map((a) => a.id),
      unique.map((a) => a.title),
      unique.map((a) => a.url),
      unique.map((a) => a.source),
      unique.map((a) => new Date(a.publishedAt)),
      unique.map((a) => a.contentHash),
      unique.map((a) => a.feed ?? null),
    ],
  );
}

export async function upsertSignals(pool: pg.Pool, signals: readonly SentimentSignal[]): Promise<void> {
  if (signals.length === 0) return;
  // A signal may arrive before its article's news item is written (different topics): its
  // copy of the article fields keeps the foreign key satisfied.
  await upsertArticles(
    pool,
    signals.map((s) => ({ ...s, id: s.articleId })),
  );
  const unique = [...new Map(signals.map((s) => [`${s.articleId}|${s.coin}|${s.scorer}`, s])).values()];
  await pool.query(
    `INSERT INTO sentiment_signals (article_id, coin, score, label, confidence, reason, scorer, prompt_version, created_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::float8[], $6::text[], $7::text[],
                          $8::text[], $9::timestamptz[])
     ON CONFLICT (article_id, coin, scorer) DO UPDATE SET score = EXCLUDED.score, label = EXCLUDED.label,
       confidence = EXCLUDED.confidence, reason = EXCLUDED.reason, prompt_version = EXCLUDED.prompt_version,
       created_at = EXCLUDED.created_at`,
    [
      unique.map((s) => s.articleId),
      unique.map((s) => s.coin),
      unique.map((s) => s.score),
      unique.map((s) => s.label.toLowerCase()),
      unique.map((s) => s.confidence),
      unique.map((s) => s.reason),
      unique.map((s) => s.scorer),
      unique.map((s) => s.promptVersion),
      unique.map((s) => new Date(s.createdAt)),
    ],
  );
}

export async function upsertFeatures(pool: pg.Pool, features: readonly SentimentFeature[]): Promise<void> {
  if (features.length === 0) return;
  const unique = [...new Map(features.map((f) => [`${f.coin}|${f.window}|${f.asOf}`, f])).values()];
  await pool.query(
    `INSERT INTO sentiment_features (coin, window_name, as_of, mean_score, count, bullish_ratio, bearish_ratio)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::int[], $6::float8[], $7::float8[])
     ON CONFLICT (coin, window_name, as_of) DO UPDATE SET mean_score = EXCLUDED.mean_score, count = EXCLUDED.count,
       bullish_ratio = EXCLUDED.bullish_ratio, bearish_ratio = EXCLUDED.bearish_ratio`,
    [
      unique.map((f) => f.coin),
      unique.map((f) => f.window),
      unique.map((f) => new Date(f.asOf)),
      unique.map((f) => f.meanScore),
      unique.map((f) => f.count),
      unique.map((f) => f.bullishRatio),
      unique.map((f) => f.bearishRatio),
    ],
  );
}
