/**
 * The technical indicators tickcast computes per pair and interval, in column order.
 * The names are the feature store's column names (schema/sql) and the keys of
 * `IndicatorSet.values`; the indicators processor must produce exactly these.
 */
export const INDICATOR_NAMES = [
  'sma_20',
  'ema_12',
  'ema_26',
  'rsi_14',
  'macd',
  'macd_signal',
  'macd_hist',
  'bb_middle',
  'bb_upper',
  'bb_lower',
  'bb_percent_b',
  'bb_bandwidth',
  'atr_14',
  'obv',
  'stoch_k',
  'stoch_d',
  'adx_14',
  'plus_di_14',
  'minus_di_14',
  'log_return_1',
  'log_return_5',
  'log_return_15',
  'realized_vol_15',
  'realized_vol_60',
] as const;

export type IndicatorName = (typeof INDICATOR_NAMES)[number];
export type IndicatorValues = Record<IndicatorName, number | null>;
