/**
 * The indicator engine: one plain-data state per (pair, interval) that every indicator
 * updates from one closed candle, returning a flat record keyed by SQL-ready names.
 * In lib/ because the indicators processor (streams/indicators/processor.ts) and training's
 * datasets (training/dataset.ts) must compute them with the same code.
 *
 * State contract (why it looks like this):
 * - Plain JSON data (numbers, nulls, arrays, string tags), so the processor can snapshot
 *   it to its changelog with JSON.stringify and restore it with `parseIndicatorState`.
 *   Every number round-trips exactly through JSON, and no state field can hold −0 (the
 *   one double JSON cannot represent) or a non-finite value, so a restored state produces
 *   bit-identical outputs (tested).
 * - `updateIndicators` mutates the state in place and validates the candle before touching
 *   it: a rejected candle leaves the state exactly as it was.
 * - No running sums over windows: windowed statistics are recomputed from their windows,
 *   exponential averages are contractive, OBV uses compensated summation. Nothing drifts
 *   over weeks of updates.
 * - Parameters are fixed (the names embed them); a state from a build with other parameters
 *   or another layout is rejected on restore rather than silently misread. Bump
 *   INDICATOR_STATE_VERSION whenever the layout or the parameters change.
 *
 * Candles are applied as consecutive: a gap in the stream (minutes without a candle) is
 * not filled here. The upstream candle processor emits flat candles for quiet windows.
 */
import { z } from 'zod';
import { TickcastError } from '../errors.ts';
import { INDICATOR_NAMES, type IndicatorName, type IndicatorValues } from '../../schema/indicators.ts';
import { adxStateSchema, createAdxState, updateAdx } from './directional-movement.ts';
import {
  createEmaState,
  createSmaState,
  emaStateSchema,
  smaStateSchema,
  updateSma,
  updateSmoothed,
} from './moving-averages.ts';
import {
  createMacdState,
  createRsiState,
  createStochasticState,
  macdStateSchema,
  rsiStateSchema,
  stochasticStateSchema,
  updateMacd,
  updateRsi,
  updateStochastic,
} from './oscillators.ts';
import { closeHistoryStateSchema, createCloseHistoryState, logReturn, updateCloseHistory } from './returns.ts';
import {
  atrStateSchema,
  bollingerStateSchema,
  createAtrState,
  createBollingerState,
  createRealizedVolState,
  realizedVolStateSchema,
  updateAtr,
  updateBollinger,
  updateRealizedVol,
} from './volatility.ts';
import { createObvState, obvStateSchema, updateObv } from './volume.ts';

/** A closed OHLCV candle. Structurally a subset of the bus `Candle`, which can be passed as is. */
export interface IndicatorInput {
  /** Window start, epoch ms. Must increase from one candle to the next. */
  openTime: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

// The output names, their column order and the values type are the contract in
// schema/indicators.ts (feature-store columns, IndicatorSet keys); re-exported here so
// the engine is usable on its own. The values literal below is type-checked against it.
export { INDICATOR_NAMES, type IndicatorName, type IndicatorValues };

export const INDICATOR_STATE_VERSION = 1;

const stateShapeSchema = z.strictObject({
  version: z.literal(INDICATOR_STATE_VERSION),
  /** openTime of the last candle applied; a candle at or before it is a replay. */
  lastOpenTime: z.number().nullable(),
  sma20: smaStateSchema,
  ema12: emaStateSchema,
  ema26: emaStateSchema,
  rsi14: rsiStateSchema,
  macd: macdStateSchema,
  bollinger: bollingerStateSchema,
  atr14: atrStateSchema,
  obv: obvStateSchema,
  stochastic: stochasticStateSchema,
  adx14: adxStateSchema,
  closes: closeHistoryStateSchema,
  realizedVol15: realizedVolStateSchema,
  realizedVol60: realizedVolStateSchema,
});

/** The parameters a state was built with, to refuse a snapshot from a differently configured build. */
function parametersOf(s: z.infer<typeof stateShapeSchema>): number[] {
  return [
    s.sma20.period,
    s.ema12.period,
    s.ema26.period,
    s.rsi14.avgGain.period,
    s.macd.fast.period,
    s.macd.slow.period,
    s.macd.signal.period,
    s.bollinger.period,
    s.bollinger.multiplier,
    s.atr14.trueRange.period,
    s.stochastic.period,
    s.stochastic.percentD.period,
    s.adx14.trueRange.period,
    s.adx14.plusDm.period,
    s.adx14.minusDm.period,
    s.adx14.dx.period,
    s.closes.maxLookback,
    s.realizedVol15.period,
    s.realizedVol60.period,
  ];
}

/** Validates a restored state: layout, invariants of every window and average, and parameters. */
export const indicatorStateSchema = stateShapeSchema.refine(
  (s) => {
    const expected = parametersOf(createIndicatorState());
    return parametersOf(s).every((p, i) => p === expected[i]);
  },
  { message: 'indicator state was built with different parameters' },
);
// Inferred from the shape schema (the refinement does not change the type) so that
// createIndicatorState, used inside the refinement, does not make the type circular.
export type IndicatorState = z.infer<typeof stateShapeSchema>;

export function createIndicatorState(): IndicatorState {
  return {
    version: INDICATOR_STATE_VERSION,
    lastOpenTime: null,
    sma20: createSmaState(20),
    ema12: createEmaState(12),
    ema26: createEmaState(26),
    rsi14: createRsiState(14),
    macd: createMacdState(12, 26, 9),
    bollinger: createBollingerState(20, 2),
    atr14: createAtrState(14),
    obv: createObvState(),
    stochastic: createStochasticState(14, 3),
    adx14: createAdxState(14),
    closes: createCloseHistoryState(15),
    realizedVol15: createRealizedVolState(15),
    realizedVol60: createRealizedVolState(60),
  };
}

/** Validates snapshot data (e.g. JSON.parse of the changelog value) into a state; throws a ZodError if invalid. */
export function parseIndicatorState(data: unknown): IndicatorState {
  return indicatorStateSchema.parse(data);
}

/** JSON for the changelog. The state is already plain data; this names the intent. */
export function serializeIndicatorState(state: IndicatorState): string {
  return JSON.stringify(state);
}

/** Inverse of `serializeIndicatorState`, validated. */
export function deserializeIndicatorState(json: string): IndicatorState {
  return parseIndicatorState(JSON.parse(json));
}

/** False for a candle already applied (a replay after restore) or out of order; skip it. */
export function isNewCandle(state: IndicatorState, openTime: number): boolean {
  return state.lastOpenTime === null || openTime > state.lastOpenTime;
}

const INPUT_FIELDS = ['openTime', 'open', 'high', 'low', 'close', 'volume'] as const;

/**
 * Applies one closed candle to every indicator and returns their values.
 *
 * Throws a non-retriable TickcastError (INVALID_EVENT) without changing the state when the
 * candle has a non-finite field (a NaN would poison the persisted state for good) or is
 * not newer than the last one applied (applying a replay twice would corrupt every
 * average). Call `isNewCandle` first to skip replays quietly.
 */
export function updateIndicators(state: IndicatorState, candle: IndicatorInput): IndicatorValues {
  for (const field of INPUT_FIELDS) {
    if (!Number.isFinite(candle[field])) {
      throw new TickcastError('INVALID_EVENT', `candle ${field} is not a finite number: ${String(candle[field])}`);
    }
  }
  if (!isNewCandle(state, candle.openTime)) {
    throw new TickcastError(
      'INVALID_EVENT',
      `candle at ${candle.openTime} is not after the last applied (${String(state.lastOpenTime)}): replay or out of order`,
    );
  }
  // `+ 0` turns a −0 input (JSON.parse('-0') yields one) into 0, keeping −0 out of the state.
  state.lastOpenTime = candle.openTime + 0;
  const high = candle.high + 0;
  const low = candle.low + 0;
  const close = candle.close + 0;
  const volume = candle.volume + 0;

  const macd = updateMacd(state.macd, close);
  const bands = updateBollinger(state.bollinger, close);
  const stochastic = updateStochastic(state.stochastic, high, low, close);
  const adx = updateAdx(state.adx14, high, low, close);
  updateCloseHistory(state.closes, close);
  const logReturn1 = logReturn(state.closes, 1);

  // Object literal in INDICATOR_NAMES order, so Object.keys matches the column order.
  const values: IndicatorValues = {
    sma_20: updateSma(state.sma20, close),
    ema_12: updateSmoothed(state.ema12, close),
    ema_26: updateSmoothed(state.ema26, close),
    rsi_14: updateRsi(state.rsi14, close),
    macd: macd.macd,
    macd_signal: macd.signal,
    macd_hist: macd.histogram,
    bb_middle: bands.middle,
    bb_upper: bands.upper,
    bb_lower: bands.lower,
    bb_percent_b: bands.percentB,
    bb_bandwidth: bands.bandwidth,
    atr_14: updateAtr(state.atr14, high, low, close),
    obv: updateObv(state.obv, close, volume),
    stoch_k: stochastic.k,
    stoch_d: stochastic.d,
    adx_14: adx.adx,
    plus_di_14: adx.plusDi,
    minus_di_14: adx.minusDi,
    log_return_1: logReturn1,
    log_return_5: logReturn(state.closes, 5),
    log_return_15: logReturn(state.closes, 15),
    realized_vol_15: updateRealizedVol(state.realizedVol15, logReturn1),
    realized_vol_60: updateRealizedVol(state.realizedVol60, logReturn1),
  };
  for (const name of INDICATOR_NAMES) values[name] = finiteOrNull(values[name]);
  return values;
}

/**
 * Last line of defence for the output contract: the formulas already avoid 0/0 and
 * ln(0), but an extreme input could still overflow, and a NaN must never reach the
 * feature store. −0 becomes 0 (x + 0), since JSON and SQL consumers treat it inconsistently.
 */
function finiteOrNull(value: number | null): number | null {
  return value === null || !Number.isFinite(value) ? null : value + 0;
}
