/**
 * The bootstrap model: what `tickcast start` trains first when nothing is served yet, so the
 * first predictions come seconds after launch instead of after a full training. It learns
 * from the history's most recent day only, with a smaller search (2 CV folds instead of 4,
 * one tree depth, fewer boosting rounds), is registered as challenger whatever it scores
 * (marked `bootstrap` in its params and version tags), and is replaced by the full model
 * trained right after it on the whole history (cli/bootstrap.ts), through the normal gate.
 */
import type { SeriesPoint } from './dataset.ts';
import type { SeriesEvaluationOptions } from './evaluate.ts';
import { DAY_MS } from './splits.ts';

/** Its history: the most recent day (all of it when shorter, e.g. Kraken's 720 REST candles). */
export const BOOTSTRAP_WINDOW_MS = DAY_MS;

/** The version tag and run param that mark a bootstrap model. */
export const BOOTSTRAP_TAG = 'bootstrap';

/**
 * The series' last BOOTSTRAP_WINDOW_MS, with a split scaled to it: TEST and VALIDATION a sixth
 * each (4 hours of a day, 2 of Kraken's 12), the rest TRAIN; the indicators keep the values
 * the whole history gave them (computed before the cut), so none is warming up.
 */
export function bootstrapTraining(series: readonly SeriesPoint[]): {
  readonly series: readonly SeriesPoint[];
  readonly settings: SeriesEvaluationOptions;
} {
  const last = series[series.length - 1];
  if (last === undefined) throw new RangeError('empty series');
  const from = last.openTime - BOOTSTRAP_WINDOW_MS;
  const window = series.filter((p) => p.openTime > from);
  const first = window[0] ?? last;
  const spanDays = (last.openTime - first.openTime) / DAY_MS;
  return {
    series: window,
    settings: {
      testDays: spanDays / 6,
      validationDays: spanDays / 6,
      folds: 2,
      treeDepths: [3],
      treeMaxRounds: 50,
    },
  };
}
