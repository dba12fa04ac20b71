/**
 * Supervised rows from a chronological series of indicator sets: x = the feature vector at
 * candle t (features.ts, which reads only the set at t), y = ln(close_{t+h} / close_t) where
 * t+h is the candle opening exactly h minutes after t. A row whose t+h candle is missing (a
 * data gap) is skipped, never bridged to the next available candle.
 *
 * `indicatorSeries` runs the project's indicator engine over one-minute candles the way the
 * indicators processor does, with one difference: after a gap in the data (a missing
 * minute) it starts a fresh engine state, so no feature spans a gap (a 5-minute return over
 * a 12-hour outage is not a 5-minute return). Features are null again until the fresh
 * state has warmed up, so rows resume about an hour after each gap. Minutes with no trades
 * (Kraken's count = 0 rows: O=H=L=C = previous close, volume 0) are ordinary flat candles
 * and go in as they are, exactly as the candle processor's flat candles would.
 */
import { createIndicatorState, updateIndicators, type IndicatorInput } from '../lib/indicators/engine.ts';
import { featureNames, featureVector } from './features.ts';

export const MINUTE_MS = 60_000;

/** One indicator set: structurally `IndicatorSet` (schema/events.ts) without pair and interval. */
export interface SeriesPoint {
  /** Open time of the candle the values were computed at (its close included), epoch ms. */
  readonly openTime: number;
  readonly close: number;
  readonly values: Readonly<Record<string, number | null | undefined>>;
}

/** The engine's output for every candle, restarting the engine after each gap. */
export function indicatorSeries(candles: readonly IndicatorInput[], intervalMs = MINUTE_MS): SeriesPoint[] {
  let state = createIndicatorState();
  let previous: number | null = null;
  const out: SeriesPoint[] = [];
  for (const candle of candles) {
    if (previous !== null && candle.openTime !== previous + intervalMs) state = createIndicatorState();
    previous = candle.openTime;
    out.push({ openTime: candle.openTime, close: candle.close, values: updateIndicators(state, candle) });
  }
  return out;
}

/** Where the series breaks: the open times of the first candle after each gap. */
export function gapStarts(openTimes: readonly number[], intervalMs = MINUTE_MS): number[] {
  const starts: number[] = [];
  for (let i = 1; i < openTimes.length; i += 1) {
    if (openTimes[i] !== (openTimes[i - 1] ?? 0) + intervalMs) starts.push(openTimes[i] ?? 0);
  }
  return starts;
}

export interface Row {
  /** Open time of candle t, epoch ms. */
  readonly openTime: number;
  /** Feature vector at t. */
  readonly x: readonly number[];
  /** ln(futureClose / close). */
  readonly y: number;
  /** close_t, to turn a predicted log return into a price. */
  readonly close: number;
  /** The actual close_{t+h}. */
  readonly futureClose: number;
}

export interface Dataset {
  readonly featureNames: readonly string[];
  readonly horizonMinutes: number;
  /** Chronological. */
  readonly rows: readonly Row[];
}

export interface DatasetOptions {
  /** Names of extra features (e.g. sentiment), appended after the base features. */
  readonly extraNames?: readonly string[];
  /** Their values at series index i; must use only information available at the close of candle i. */
  readonly extra?: (point: SeriesPoint, index: number) => readonly (number | null)[];
}

/** ln(b / a) computed as log1p((b − a) / a): full relative precision for tiny moves, exactly 0 for no move. */
export function logReturn(from: number, to: number): number {
  return Math.log1p((to - from) / from);
}

/**
 * Rows for predicting the log return `horizonMinutes` ahead. The series must be strictly
 * increasing in openTime (one pair, one interval); rows without a complete feature vector
 * (warm-up) or without a candle exactly h minutes later (end of data, gaps) are skipped.
 */
export function buildDataset(
  series: readonly SeriesPoint[],
  horizonMinutes: number,
  options: DatasetOptions = {},
): Dataset {
  if (!(Number.isInteger(horizonMinutes) && horizonMinutes > 0)) {
    throw new RangeError(`horizon must be a positive whole number of minutes, got ${horizonMinutes}`);
  }
  const horizonMs = horizonMinutes * MINUTE_MS;
  const indexByTime = new Map<number, number>();
  series.forEach((p, i) => {
    const prev = series[i - 1];
    if (prev !== undefined && !(p.openTime > prev.openTime)) {
      throw new RangeError(`series not strictly increasing at index ${i} (${p.openTime} after ${prev.openTime})`);
    }
    indexByTime.set(p.openTime, i);
  });
  const names = featureNames(options.extraNames ?? []);
  const rows: Row[] = [];
  series.forEach((point, i) => {
    const j = indexByTime.get(point.openTime + horizonMs);
    if (j === undefined) return;
    const future = series[j];
    if (future === undefined) return;
    const extra = options.extra?.(point, i) ?? [];
    const x = featureVector(point, extra);
    if (x === null) return;
    if (x.length !== names.length) {
      throw new RangeError(`feature vector has ${x.length} values for ${names.length} names`);
    }
    rows.push({
      openTime: point.openTime,
      x,
      y: logReturn(point.close, future.close),
      close: point.close,
      futureClose: future.close,
    });
  });
  return { featureNames: names, horizonMinutes, rows };
}
