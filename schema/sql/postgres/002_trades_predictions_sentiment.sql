-- Trades as the sources reported them (the markets subgraph serves the newest).
CREATE TABLE trades (
  pair      TEXT        NOT NULL,
  trade_id  BIGINT      NOT NULL,
  price     NUMERIC     NOT NULL,
  qty       NUMERIC     NOT NULL,
  side      TEXT,
  time      TIMESTAMPTZ NOT NULL,
  source    TEXT        NOT NULL,
  PRIMARY KEY (pair, trade_id)
);
CREATE INDEX trades_pair_time ON trades (pair, time DESC);

-- Predictions, one per (model version, pair, horizon, made_at); the error monitor fills
-- in actual_price and error when target_time has passed.
CREATE TABLE predictions (
  id              TEXT        PRIMARY KEY,
  pair            TEXT        NOT NULL,
  horizon_minutes INTEGER     NOT NULL,
  made_at         TIMESTAMPTZ NOT NULL,
  target_time     TIMESTAMPTZ NOT NULL,
  predicted_price DOUBLE PRECISION NOT NULL,
  lower_bound     DOUBLE PRECISION,
  upper_bound     DOUBLE PRECISION,
  model_name      TEXT        NOT NULL,
  model_version   TEXT        NOT NULL,
  actual_price    DOUBLE PRECISION,
  error           DOUBLE PRECISION
);
CREATE INDEX predictions_pair_horizon_made ON predictions (pair, horizon_minutes, made_at DESC);

-- Rolling error per model version, market and horizon (the error monitor keeps it).
CREATE TABLE model_performance (
  model_name           TEXT        NOT NULL,
  model_version        TEXT        NOT NULL,
  pair                 TEXT        NOT NULL,
  horizon_minutes      INTEGER     NOT NULL,
  count                INTEGER     NOT NULL,
  mae                  DOUBLE PRECISION,
  rmse                 DOUBLE PRECISION,
  mape                 DOUBLE PRECISION,
  directional_accuracy DOUBLE PRECISION,
  interval_coverage    DOUBLE PRECISION,
  updated_at           TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (model_name, model_version, pair, horizon_minutes)
);

-- News and the sentiment scored from it (filled by the sentiment pipeline).
CREATE TABLE news_articles (
  id           TEXT        PRIMARY KEY,
  title        TEXT        NOT NULL,
  url          TEXT,
  source       TEXT        NOT NULL,
  published_at TIMESTAMPTZ NOT NULL,
  content_hash TEXT        NOT NULL
);
CREATE INDEX news_articles_published ON news_articles (published_at DESC);

CREATE TABLE sentiment_signals (
  article_id     TEXT        NOT NULL REFERENCES news_articles (id),
  coin           TEXT        NOT NULL,
  score          DOUBLE PRECISION NOT NULL CHECK (score BETWEEN -1 AND 1),
  label          TEXT        NOT NULL CHECK (label IN ('bullish', 'neutral', 'bearish')),
  confidence     DOUBLE PRECISION NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  reason         TEXT        NOT NULL,
  scorer         TEXT        NOT NULL,
  prompt_version TEXT,
  created_at     TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (article_id, coin, scorer)
);
CREATE INDEX sentiment_signals_coin_created ON sentiment_signals (coin, created_at DESC);

-- Rolling sentiment features per coin and window (1h, 4h, 24h).
CREATE TABLE sentiment_features (
  coin          TEXT        NOT NULL,
  window_name   TEXT        NOT NULL CHECK (window_name IN ('1h', '4h', '24h')),
  as_of         TIMESTAMPTZ NOT NULL,
  mean_score    DOUBLE PRECISION NOT NULL,
  count         INTEGER     NOT NULL,
  bullish_ratio DOUBLE PRECISION NOT NULL,
  bearish_ratio DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (coin, window_name, as_of)
);
