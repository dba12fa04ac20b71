/**
 * Models for e2e tests that need predictions: synthetic minutes with a learnable AR(1)
 * signal, small training settings (a few seconds), and the real MLflow registry.
 */
import { MlflowRegistry } from '../../registry/mlflow.ts';
import type { OhlcMinute } from '../../lib/candle-csv.ts';
import { indicatorSeries } from '../../training/dataset.ts';
import { syntheticCandles } from '../../training/synthetic.ts';
import { trainAndRegister, type TrainOutcome } from '../../training/train.ts';

const HISTORY_MINUTES = 4 * 1440;

/** One validation and one test day, one tree depth: seconds to train, still a model that earns `champion` on the signal. */
const SETTINGS = { testDays: 1, validationDays: 1, folds: 3, treeDepths: [2], treeMaxRounds: 40, treeMinLeaf: 50 };

export type SyntheticCandle = ReturnType<typeof syntheticCandles>[number];

/** Four days to train on, then `liveMinutes` the pipeline sees live, all with the same AR(1) signal. */
export function syntheticMarket(
  seed: number,
  liveMinutes: number,
): { history: SyntheticCandle[]; live: SyntheticCandle[] } {
  const candles = syntheticCandles({ count: HISTORY_MINUTES + liveMinutes, seed, phi: 0.5, volatility: 5e-4 });
  return { history: candles.slice(0, HISTORY_MINUTES), live: candles.slice(HISTORY_MINUTES) };
}

/** As a candle file would give them: prices to 0.1, volumes to 1e-8, five trades a minute. */
export const asMinutes = (candles: readonly SyntheticCandle[]): OhlcMinute[] =>
  candles.map((c) => ({
    time: c.openTime,
    open: Math.round(c.open * 10) / 10,
    high: Math.round(c.high * 10) / 10,
    low: Math.round(c.low * 10) / 10,
    close: Math.round(c.close * 10) / 10,
    vwap: Math.round(c.close * 10) / 10,
    volume: Math.round(c.volume * 1e8) / 1e8,
    count: 5,
  }));

/** The MLflow server `scripts/services` started. */
export function mlflowTrackingUri(): string {
  const trackingUri = process.env['MLFLOW_TRACKING_URI'];
  if (!trackingUri) throw new Error('needs MLflow: run through `npm test` or `scripts/with-services`');
  return trackingUri;
}

export const mlflowRegistry = (): MlflowRegistry => new MlflowRegistry({ trackingUri: mlflowTrackingUri() });

/** Trains a one-minute model of `pair` on `history` and registers it (champion if it beats persistence and the current one). */
export function trainOneMinute(
  registry: MlflowRegistry,
  pair: string,
  history: readonly SyntheticCandle[],
): Promise<TrainOutcome> {
  return trainAndRegister({ registry, pair, horizonMinutes: 1, series: indicatorSeries(history), settings: SETTINGS });
}
