-- Market data in the feature store (PostgreSQL). Applied by `tickcast migrate`.
-- Prices and volumes are NUMERIC so candles keep the exchange's exact decimals
-- and SQL aggregation over them is exact.

CREATE TABLE candles (
  pair          TEXT        NOT NULL,
  interval      TEXT        NOT NULL,
  open_time     TIMESTAMPTZ NOT NULL,
  close_time    TIMESTAMPTZ NOT NULL,
  open          NUMERIC     NOT NULL,
  high          NUMERIC     NOT NULL,
  low           NUMERIC     NOT NULL,
  close         NUMERIC     NOT NULL,
  volume        NUMERIC     NOT NULL,
  quote_volume  DOUBLE PRECISION NOT NULL,
  vwap          DOUBLE PRECISION NOT NULL,
  trade_count   INTEGER     NOT NULL,
  flat          BOOLEAN     NOT NULL,
  written_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (pair, interval, open_time)
);

-- One row per closed candle: the indicators computed with that candle included.
CREATE TABLE indicators (
  pair       TEXT        NOT NULL,
  interval   TEXT        NOT NULL,
  open_time  TIMESTAMPTZ NOT NULL,
  close      DOUBLE PRECISION NOT NULL,
  sma_20 DOUBLE PRECISION,
  ema_12 DOUBLE PRECISION,
  ema_26 DOUBLE PRECISION,
  rsi_14 DOUBLE PRECISION,
  macd DOUBLE PRECISION,
  macd_signal DOUBLE PRECISION,
  macd_hist DOUBLE PRECISION,
  bb_middle DOUBLE PRECISION,
  bb_upper DOUBLE PRECISION,
  bb_lower DOUBLE PRECISION,
  bb_percent_b DOUBLE PRECISION,
  bb_bandwidth DOUBLE PRECISION,
  atr_14 DOUBLE PRECISION,
  obv DOUBLE PRECISION,
  stoch_k DOUBLE PRECISION,
  stoch_d DOUBLE PRECISION,
  adx_14 DOUBLE PRECISION,
  plus_di_14 DOUBLE PRECISION,
  minus_di_14 DOUBLE PRECISION,
  log_return_1 DOUBLE PRECISION,
  log_return_5 DOUBLE PRECISION,
  log_return_15 DOUBLE PRECISION,
  realized_vol_15 DOUBLE PRECISION,
  realized_vol_60 DOUBLE PRECISION,
  written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (pair, interval, open_time)
);

-- The newest features per pair and interval, as the predictor and the API read them.
CREATE VIEW latest_features AS
SELECT DISTINCT ON (pair, interval) *
FROM indicators
ORDER BY pair, interval, open_time DESC;
