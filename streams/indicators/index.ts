/**
 * Incremental technical indicators over closed OHLCV candles, with JSON-serializable state.
 * The engine is the intended entry point; the per-indicator functions are exported for
 * processors that need a different set or different parameters.
 */
export {
  INDICATOR_NAMES,
  INDICATOR_STATE_VERSION,
  createIndicatorState,
  deserializeIndicatorState,
  indicatorStateSchema,
  isNewCandle,
  parseIndicatorState,
  serializeIndicatorState,
  updateIndicators,
  type IndicatorInput,
  type IndicatorName,
  type IndicatorState,
  type IndicatorValues,
} from './engine.ts';
export * from './moving-averages.ts';
export * from './oscillators.ts';
export * from './volatility.ts';
export * from './directional-movement.ts';
export * from './volume.ts';
export * from './returns.ts';
