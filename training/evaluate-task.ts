/**
 * One (pair, horizon) of `tickcast evaluate` as a self-contained task: everything it needs is
 * plain data (file paths, settings), so it runs the same in this thread or in a worker thread
 * (evaluate-pool.ts). The candle files are read once per thread and kept.
 */
import { loadCandleCsv } from '../lib/candle-csv.ts';
import { crossAssetDatasetOptions } from './cross-asset.ts';
import { indicatorSeries, type SeriesPoint } from './dataset.ts';
import { evaluateSeries, type HorizonResult, type SeriesEvaluationOptions } from './evaluate.ts';
import { indicatorInputs } from './history.ts';

/** The settings a task carries: no functions, no datasets (they are rebuilt from the files). */
export type TaskSettings = Omit<SeriesEvaluationOptions, 'log' | 'extraFeatures' | 'crossAsset'>;

export interface EvaluationTask {
  readonly pair: string;
  readonly file: string;
  /** The partner pair's candle file: adds the cross-asset candidates (cross-asset.ts). */
  readonly partnerFile: string | null;
  readonly horizonMinutes: number;
  readonly settings: TaskSettings;
}

/** Indicator series by candle file, for this thread. */
export type SeriesCache = Map<string, Promise<SeriesPoint[]>>;

export function seriesOf(cache: SeriesCache, file: string): Promise<SeriesPoint[]> {
  let series = cache.get(file);
  if (series === undefined) {
    series = loadCandleCsv(file).then((minutes) => indicatorSeries(indicatorInputs(minutes)));
    cache.set(file, series);
  }
  return series;
}

export async function runTask(
  task: EvaluationTask,
  cache: SeriesCache,
  log: (line: string) => void,
): Promise<HorizonResult> {
  const series = await seriesOf(cache, task.file);
  const partner = task.partnerFile === null ? undefined : await seriesOf(cache, task.partnerFile);
  return evaluateSeries(task.pair, series, task.horizonMinutes, {
    ...task.settings,
    ...(partner ? { crossAsset: crossAssetDatasetOptions(partner) } : {}),
    log,
  });
}
