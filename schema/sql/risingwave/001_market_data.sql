-- Market data in RisingWave, the production feature store. RisingWave reads the
-- Kafka topics itself, so the feature store writer is not deployed against it:
-- tables are sourced from the topics and upsert on their primary key.
-- ${KAFKA_BROKERS} is substituted by the k8s Job that applies this file.
-- Field names follow the JSON of schema/events.ts (camelCase, quoted).

CREATE TABLE IF NOT EXISTS candles (
  pair            VARCHAR,
  "interval"      VARCHAR,
  "openTime"      BIGINT,
  "closeTime"     BIGINT,
  open            DECIMAL,
  high            DECIMAL,
  low             DECIMAL,
  close           DECIMAL,
  volume          DECIMAL,
  "quoteVolume"   DOUBLE PRECISION,
  vwap            DOUBLE PRECISION,
  "tradeCount"    INTEGER,
  flat            BOOLEAN,
  final           BOOLEAN,
  PRIMARY KEY (pair, "interval", "openTime")
) WITH (
  connector = 'kafka',
  topic = 'tickcast.candles.v1',
  properties.bootstrap.server = '${KAFKA_BROKERS}',
  properties.isolation.level = 'read_committed',
  scan.startup.mode = 'earliest'
) FORMAT PLAIN ENCODE JSON;

-- IndicatorSet.values is a JSON object; RisingWave keeps it as JSONB and the view
-- below types each indicator as a column, matching the PostgreSQL table.
CREATE TABLE IF NOT EXISTS indicator_sets (
  pair        VARCHAR,
  "interval"  VARCHAR,
  "openTime"  BIGINT,
  close       DOUBLE PRECISION,
  "values"    JSONB,
  PRIMARY KEY (pair, "interval", "openTime")
) WITH (
  connector = 'kafka',
  topic = 'tickcast.indicators.v1',
  properties.bootstrap.server = '${KAFKA_BROKERS}',
  properties.isolation.level = 'read_committed',
  scan.startup.mode = 'earliest'
) FORMAT PLAIN ENCODE JSON;

CREATE MATERIALIZED VIEW IF NOT EXISTS indicators AS
SELECT
  pair,
  "interval" AS interval,
  to_timestamp("openTime" / 1000.0) AS open_time,
  close,
  ("values" ->> 'sma_20')::DOUBLE PRECISION AS sma_20,
  ("values" ->> 'ema_12')::DOUBLE PRECISION AS ema_12,
  ("values" ->> 'ema_26')::DOUBLE PRECISION AS ema_26,
  ("values" ->> 'rsi_14')::DOUBLE PRECISION AS rsi_14,
  ("values" ->> 'macd')::DOUBLE PRECISION AS macd,
  ("values" ->> 'macd_signal')::DOUBLE PRECISION AS macd_signal,
  ("values" ->> 'macd_hist')::DOUBLE PRECISION AS macd_hist,
  ("values" ->> 'bb_middle')::DOUBLE PRECISION AS bb_middle,
  ("values" ->> 'bb_upper')::DOUBLE PRECISION AS bb_upper,
  ("values" ->> 'bb_lower')::DOUBLE PRECISION AS bb_lower,
  ("values" ->> 'bb_percent_b')::DOUBLE PRECISION AS bb_percent_b,
  ("values" ->> 'bb_bandwidth')::DOUBLE PRECISION AS bb_bandwidth,
  ("values" ->> 'atr_14')::DOUBLE PRECISION AS atr_14,
  ("values" ->> 'obv')::DOUBLE PRECISION AS obv,
  ("values" ->> 'stoch_k')::DOUBLE PRECISION AS stoch_k,
  ("values" ->> 'stoch_d')::DOUBLE PRECISION AS stoch_d,
  ("values" ->> 'adx_14')::DOUBLE PRECISION AS adx_14,
  ("values" ->> 'plus_di_14')::DOUBLE PRECISION AS plus_di_14,
  ("values" ->> 'minus_di_14')::DOUBLE PRECISION AS minus_di_14,
  ("values" ->> 'log_return_1')::DOUBLE PRECISION AS log_return_1,
  ("values" ->> 'log_return_5')::DOUBLE PRECISION AS log_return_5,
  ("values" ->> 'log_return_15')::DOUBLE PRECISION AS log_return_15,
  ("values" ->> 'realized_vol_15')::DOUBLE PRECISION AS realized_vol_15,
  ("values" ->> 'realized_vol_60')::DOUBLE PRECISION AS realized_vol_60
FROM indicator_sets;

-- Latest features per pair and interval (RisingWave keeps this incrementally).
CREATE MATERIALIZED VIEW IF NOT EXISTS latest_features AS
SELECT *
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY pair, interval ORDER BY open_time DESC) AS rank
  FROM indicators
) ranked
WHERE rank = 1;
