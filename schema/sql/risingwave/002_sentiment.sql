-- News and sentiment in RisingWave, the production feature store: tables sourced from the
-- news, signals and features topics (upserting on their primary keys, so re-delivered
-- records change nothing), and views with the column names of the PostgreSQL tables in
-- schema/sql/postgres/002_trades_predictions_sentiment.sql that the sentiment subgraph and
-- training read. ${KAFKA_BROKERS} is substituted by the k8s Job that applies this file.
-- Field names follow the JSON of schema/events.ts (camelCase, quoted).

CREATE TABLE IF NOT EXISTS news_items (
  id              VARCHAR,
  title           VARCHAR,
  "text"          VARCHAR,
  url             VARCHAR,
  source          VARCHAR,
  feed            VARCHAR,
  "publishedAt"   BIGINT,
  "contentHash"   VARCHAR,
  PRIMARY KEY (id)
) WITH (
  connector = 'kafka',
  topic = 'tickcast.news.v1',
  properties.bootstrap.server = '${KAFKA_BROKERS}',
  properties.isolation.level = 'read_committed',
  scan.startup.mode = 'earliest'
) FORMAT PLAIN ENCODE JSON;

CREATE TABLE IF NOT EXISTS sentiment_signal_events (
  "articleId"     VARCHAR,
  coin            VARCHAR,
  score           DOUBLE PRECISION,
  label           VARCHAR,
  confidence      DOUBLE PRECISION,
  reason          VARCHAR,
  scorer          VARCHAR,
  "promptVersion" VARCHAR,
  "createdAt"     BIGINT,
  title           VARCHAR,
  url             VARCHAR,
  source          VARCHAR,
  "publishedAt"   BIGINT,
  "contentHash"   VARCHAR,
  PRIMARY KEY ("articleId", coin, scorer)
) WITH (
  connector = 'kafka',
  topic = 'tickcast.sentiment.signals.v1',
  properties.bootstrap.server = '${KAFKA_BROKERS}',
  properties.isolation.level = 'read_committed',
  scan.startup.mode = 'earliest'
) FORMAT PLAIN ENCODE JSON;

CREATE TABLE IF NOT EXISTS sentiment_feature_events (
  coin            VARCHAR,
  "window"        VARCHAR,
  "asOf"          BIGINT,
  "meanScore"     DOUBLE PRECISION,
  count           INTEGER,
  "bullishRatio"  DOUBLE PRECISION,
  "bearishRatio"  DOUBLE PRECISION,
  PRIMARY KEY (coin, "window", "asOf")
) WITH (
  connector = 'kafka',
  topic = 'tickcast.sentiment.features.v1',
  properties.bootstrap.server = '${KAFKA_BROKERS}',
  properties.isolation.level = 'read_committed',
  scan.startup.mode = 'earliest'
) FORMAT PLAIN ENCODE JSON;

-- Articles come from the news topic and, for a signal whose news item is not read yet,
-- from the signal's copy of the article fields (as the PostgreSQL writer does).
CREATE MATERIALIZED VIEW IF NOT EXISTS news_articles AS
SELECT id, title, url, source, to_timestamp("publishedAt" / 1000.0) AS published_at, "contentHash" AS content_hash
FROM news_items
UNION
SELECT DISTINCT "articleId" AS id, title, url, source, to_timestamp("publishedAt" / 1000.0) AS published_at,
       "contentHash" AS content_hash
FROM sentiment_signal_events s
WHERE NOT EXISTS (SELECT 1 FROM news_items n WHERE n.id = s."articleId");

CREATE MATERIALIZED VIEW IF NOT EXISTS sentiment_signals AS
SELECT "articleId" AS article_id, coin, score, lower(label) AS label, confidence, reason, scorer,
       "promptVersion" AS prompt_version, to_timestamp("createdAt" / 1000.0) AS created_at
FROM sentiment_signal_events;

CREATE MATERIALIZED VIEW IF NOT EXISTS sentiment_features AS
SELECT coin, "window" AS window_name, to_timestamp("asOf" / 1000.0) AS as_of, "meanScore" AS mean_score, count,
       "bullishRatio" AS bullish_ratio, "bearishRatio" AS bearish_ratio
FROM sentiment_feature_events;
