/**
 * The error monitor's pure core: predictions wait until the one-minute candle that closes
 * at their target time arrives; then their error joins a rolling window per model
 * version, market and horizon. Everything is plain JSON state, snapshotted like every
 * stateful processor's.
 */
import { z } from 'zod';
import type { Candle, ModelPerformance, Prediction, PredictionOutcome } from '../../schema/events.ts';
import { adaptiveStateSchema, halfWidth, initialState, update } from '../../training/adaptive-conformal.ts';

const pendingSchema = z.object({
  id: z.string(),
  horizonMinutes: z.number(),
  targetTime: z.number(),
  basePrice: z.number(),
  predictedPrice: z.number(),
  lowerBound: z.number().nullable(),
  upperBound: z.number().nullable(),
  modelName: z.string(),
  modelVersion: z.string(),
});
type Pending = z.infer<typeof pendingSchema>;

const errorSampleSchema = z.object({
  absError: z.number(),
  squaredError: z.number(),
  absPercentError: z.number(),
  /** null: the actual move was flat, so direction is undefined. */
  directionCorrect: z.boolean().nullable(),
  covered: z.boolean().nullable(),
});
type ErrorSample = z.infer<typeof errorSampleSchema>;

export const monitorStateSchema = z.object({
  pending: z.array(pendingSchema),
  /** Recent one-minute closes by close time, so a prediction arriving late still resolves. */
  closes: z.array(z.tuple([z.number(), z.number()])),
  /**
   * When the newest prediction was made. A pair's predictions arrive in the order they were
   * made and each targets a later close, so closes at or before it are no later prediction's
   * target. Absent until the first prediction (and in snapshots from before it was kept).
   */
  newestMadeAt: z.number().optional(),
  windows: z.record(z.string(), z.array(errorSampleSchema)),
  /** Windows whose drift alert is raised: one alert per episode, not one per outcome. */
  alerting: z.record(z.string(), z.boolean()),
  /**
   * Per window key, the adaptive conformal half-width tracker (training/adaptive-conformal.ts),
   * started from the half-width the version's first scored prediction carried. Absent in
   * snapshots from before it was kept.
   */
  intervals: z.record(z.string(), adaptiveStateSchema).optional(),
});
export type MonitorState = z.infer<typeof monitorStateSchema>;

export interface MonitorConfig {
  /** Outcomes per rolling window. */
  readonly window: number;
  /**
   * How far behind the newest close a close is still remembered for a prediction that has not
   * arrived (ms): bounds the state while predictions lag far behind the candles or stop.
   */
  readonly closesRetentionMs: number;
}

export const initialMonitorState = (): MonitorState => ({ pending: [], closes: [], windows: {}, alerting: {} });

export interface Resolved {
  readonly outcomes: PredictionOutcome[];
  readonly performance: ModelPerformance[];
}

const windowKey = (p: Pick<Pending, 'modelName' | 'modelVersion' | 'horizonMinutes'>, pair: string): string =>
  `${p.modelName}|${p.modelVersion}|${pair}|${p.horizonMinutes}`;

export function addPrediction(
  state: MonitorState,
  prediction: Prediction,
  config: MonitorConfig,
  now: number,
): Resolved {
  const pending: Pending = {
    id: prediction.id,
    horizonMinutes: prediction.horizonMinutes,
    targetTime: prediction.targetTime,
    basePrice: prediction.basePrice,
    predictedPrice: prediction.predictedPrice,
    lowerBound: prediction.lowerBound,
    upperBound: prediction.upperBound,
    modelName: prediction.modelName,
    modelVersion: prediction.modelVersion,
  };
  const newest = Math.max(state.newestMadeAt ?? prediction.madeAt, prediction.madeAt);
  state.newestMadeAt = newest;
  state.closes = state.closes.filter(([time]) => time > newest);
  const close = state.closes.find(([time]) => time === prediction.targetTime);
  if (close) return resolve(state, prediction.pair, [pending], close[1], config, now);
  if (!state.pending.some((p) => p.id === pending.id)) state.pending.push(pending);
  return { outcomes: [], performance: [] };
}

export function addCandle(state: MonitorState, candle: Candle, config: MonitorConfig, now: number): Resolved {
  if (candle.interval !== '1m' || !candle.final) return { outcomes: [], performance: [] };
  if (!state.closes.some(([time]) => time === candle.closeTime)) state.closes.push([candle.closeTime, candle.close]);
  const oldest = Math.max(candle.closeTime - config.closesRetentionMs, (state.newestMadeAt ?? -Infinity) + 1);
  state.closes = state.closes.filter(([time]) => time >= oldest);
  const due = state.pending.filter((p) => p.targetTime === candle.closeTime);
  state.pending = state.pending.filter((p) => p.targetTime !== candle.closeTime);
  return resolve(state, candle.pair, due, candle.close, config, now);
}

function resolve(
  state: MonitorState,
  pair: string,
  due: readonly Pending[],
  actual: number,
  config: MonitorConfig,
  now: number,
): Resolved {
  const outcomes: PredictionOutcome[] = [];
  const touched = new Set<string>();
  for (const p of due) {
    const error = actual - p.predictedPrice;
    outcomes.push({
      v: 1,
      id: p.id,
      pair,
      horizonMinutes: p.horizonMinutes,
      modelName: p.modelName,
      modelVersion: p.modelVersion,
      targetTime: p.targetTime,
      predictedPrice: p.predictedPrice,
      actualPrice: actual,
      error,
    });
    touched.add(addSample(state, pair, p, actual, config));
  }
  const performance = [...touched].map((key) => summarize(state, key, state.windows[key] ?? [], now));
  return { outcomes, performance };
}

/** Adds the outcome of `p` to its rolling window (bounded by `config.window`); returns the window's key. */
function addSample(
  state: MonitorState,
  pair: string,
  p: Omit<Pending, 'id' | 'targetTime' | 'basePrice'> & { readonly basePrice: number | null },
  actual: number,
  config: MonitorConfig,
): string {
  const error = actual - p.predictedPrice;
  // null base price: a prediction stored before base_price existed, so its direction is unknown.
  const actualMove = p.basePrice === null ? 0 : Math.sign(actual - p.basePrice);
  const sample: ErrorSample = {
    absError: Math.abs(error),
    squaredError: error * error,
    absPercentError: Math.abs(error) / actual,
    directionCorrect:
      actualMove === 0 || p.basePrice === null ? null : Math.sign(p.predictedPrice - p.basePrice) === actualMove,
    covered: p.lowerBound === null || p.upperBound === null ? null : actual >= p.lowerBound && actual <= p.upperBound,
  };
  const key = windowKey(p, pair);
  const samples = (state.windows[key] ??= []);
  samples.push(sample);
  if (samples.length > config.window) samples.splice(0, samples.length - config.window);
  trackInterval(state, key, p, actual);
  return key;
}

/**
 * Feeds one outcome to the window's adaptive half-width: the residual and the half-width the
 * prediction was issued with, both in log-return space (the interval is symmetric there:
 * [ŷ − q, ŷ + q] around the predicted log return). Predictions without an interval, or whose
 * bounds are not one, leave it alone.
 */
function trackInterval(
  state: MonitorState,
  key: string,
  p: Pick<Pending, 'predictedPrice' | 'upperBound'>,
  actual: number,
): void {
  if (p.upperBound === null || !(p.predictedPrice > 0 && actual > 0)) return;
  const issued = Math.log(p.upperBound / p.predictedPrice);
  if (!(Number.isFinite(issued) && issued > 0)) return;
  const intervals = (state.intervals ??= {});
  intervals[key] = update(intervals[key] ?? initialState(issued), Math.log(actual / p.predictedPrice), issued);
}

/** A stored prediction as the store gives it back: with its outcome (actualPrice) or still pending (null). */
export interface StoredPrediction extends Omit<Pending, 'basePrice'> {
  readonly pair: string;
  readonly basePrice: number | null;
  readonly actualPrice: number | null;
}

/**
 * A pair's monitor state rebuilt from stored predictions, for a monitor that starts with
 * no state of its own (the embedded bus keeps none across a restart): resolved ones, oldest
 * first, refill the rolling windows, so the counts and errors it publishes continue from
 * the stored ones instead of restarting at 1; unresolved ones wait for their close again.
 */
export function stateFromStore(stored: readonly StoredPrediction[], config: MonitorConfig): MonitorState {
  const state = initialMonitorState();
  for (const p of stored) {
    if (p.actualPrice !== null) addSample(state, p.pair, p, p.actualPrice, config);
    else if (p.basePrice !== null && !state.pending.some((q) => q.id === p.id)) {
      const { pair: _pair, actualPrice: _actual, ...pending } = p;
      state.pending.push({ ...pending, basePrice: p.basePrice });
    }
  }
  return state;
}

function summarize(state: MonitorState, key: string, samples: readonly ErrorSample[], now: number): ModelPerformance {
  const [modelName = '', modelVersion = '', pair = '', horizon = '0'] = key.split('|');
  const n = samples.length;
  const mean = (f: (s: ErrorSample) => number): number => samples.reduce((sum, s) => sum + f(s), 0) / n;
  const directional = samples.filter((s) => s.directionCorrect !== null);
  const interval = samples.filter((s) => s.covered !== null);
  return {
    v: 1,
    modelName,
    modelVersion,
    pair,
    horizonMinutes: Number(horizon),
    count: n,
    mae: mean((s) => s.absError),
    rmse: Math.sqrt(mean((s) => s.squaredError)),
    mape: mean((s) => s.absPercentError),
    directionalAccuracy:
      directional.length === 0 ? null : directional.filter((s) => s.directionCorrect).length / directional.length,
    intervalCoverage: interval.length === 0 ? null : interval.filter((s) => s.covered).length / interval.length,
    adaptiveHalfWidth: state.intervals?.[key] ? halfWidth(state.intervals[key]) : null,
    updatedAt: now,
  };
}
