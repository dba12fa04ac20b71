/**
 * The honest evaluation: for each pair and horizon, train every candidate on TRAIN, select
 * on VALIDATION, and report the selected model once on the held-out TEST stretch against
 * the persistence baseline.
 *
 * Pipeline per pair: the real one-minute Kraken candles (`loadCandleCsv`; count = 0 minutes
 * are the flat candles they are) → the project's indicator engine (fresh state after each
 * data gap, dataset.ts) → rows per horizon → chronological split (splits.ts).
 *
 * Per horizon:
 * 1. Each candidate chooses its hyperparameters by expanding-window CV inside TRAIN and is
 *    fitted on all of TRAIN (models/index.ts).
 * 2. Shrinkage toward persistence: each fitted model's predicted return is scaled by the
 *    factor (0.25 … 1) with the lowest price MAE on VALIDATION (models/shrinkage.ts).
 *    Selection: lowest price MAE on VALIDATION. Ties go to the simpler candidate
 *    (persistence, then ridge, then trees, then median trees), so a model is selected over
 *    the baseline only if it beats it on validation.
 * 3. Calibration: split-conformal on the selected model's VALIDATION residuals (conformal.ts).
 * 4. TEST, touched once: price MAE, RMSE, persistence MAE, their ratio and a
 *    Diebold–Mariano test of the paired difference (HAC variance), directional accuracy (ties as
 *    defined in metrics.ts), interval coverage.
 *
 * 5. Adaptive conformal intervals on the same TEST predictions, replayed as the live error
 *    monitor would update them (adaptive-conformal.ts), reported beside the split-conformal
 *    ones: coverage and mean width of each (nothing is selected on width).
 *
 * 6. Only with `reference: 'lightgbm'`: LightGBM trained like median-trees and
 *    median-trees+partner (objective l1) and like trees (l2) on the same rows, inputs and folds
 *    (reference/lightgbm.ts), scored on TEST beside them (selected or not).
 *
 * Refit policy: none. The model reported on TEST is the one fitted on TRAIN alone; it is
 * not refitted on TRAIN + VALIDATION, because its conformal quantile must come from
 * residuals on rows it was not fitted on, and because the reported figures must describe
 * the exact artifact that was evaluated (the one `result.model` holds for export). A
 * deployment that wants the newest data can refit on TRAIN + VALIDATION with the same
 * hyperparameters, but must then calibrate on a later stretch and re-measure.
 *
 * Caveat: VALIDATION serves shrinkage, selection (among four candidates) and calibration, so
 * the winner's validation MAE and calibration residuals are slightly optimistic; TEST, never
 * used for any of them, measures the result.
 */
import { readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adaptiveHoldout, halfWidth } from './adaptive-conformal.ts';
import { calibrate, predictionInterval, type ConformalCalibration } from './conformal.ts';
import { buildDataset, MINUTE_MS, type DatasetOptions, type Row, type SeriesPoint } from './dataset.ts';
import { dieboldMariano, priceMetrics, type LossComparison, type PriceMetrics } from './metrics.ts';
import type { TrainedModel } from './model-types.ts';
import type { TrainingSet } from './models/common.ts';
import { FEATURE_NAMES, featureNames } from './features.ts';
import { CANDIDATES, CROSS_ASSET_CANDIDATES, type CandidateName, type CandidateSettings } from './models/index.ts';
import { chooseShrinkage, shrinkModel } from './models/shrinkage.ts';
import { predict } from './predict.ts';
import { lightgbmReference, type ReferenceResult } from './reference/lightgbm.ts';
import { chronologicalSplit, expandingWindowFolds, type Fold } from './splits.ts';

export const DEFAULT_DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/data/kraken/ohlcv_1m');

/** Kraken file prefixes and the pairs they hold. */
const KRAKEN_PAIRS: Readonly<Record<string, string>> = { XBTUSD: 'BTC/USD', ETHUSD: 'ETH/USD' };

export interface PairFile {
  readonly pair: string;
  readonly file: string;
}

export interface EvaluateOptions extends CandidateSettings {
  /** Default: the XBTUSD_… and ETHUSD_… Kraken exports in `dataDir`. */
  readonly pairs?: readonly PairFile[];
  readonly dataDir?: string;
  readonly horizons?: readonly number[];
  readonly testDays?: number;
  readonly validationDays?: number;
  /** Interval miscoverage; 0.1 gives 90% intervals. */
  readonly alpha?: number;
  readonly folds?: number;
  /** Add the cross-asset candidates for pairs whose partner is evaluated too (cross-asset.ts); default true. */
  readonly crossAssetInputs?: boolean;
  /** Threads running (pair, horizon) tasks at once; default the machine's cores (evaluate-pool.ts). */
  readonly jobs?: number;
  /** Called as each (pair, horizon) task finishes. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Progress lines; default stderr. */
  readonly log?: (line: string) => void;
  /** Also train this library on the same rows, beside our tree candidates (reference/lightgbm.ts). */
  readonly reference?: 'lightgbm';
}

export interface CandidateReport {
  readonly name: CandidateName;
  readonly hyperparameters: Readonly<Record<string, number>>;
  readonly cvMae: number | null;
  readonly seconds: number;
  /** Price metrics on VALIDATION (no intervals). */
  readonly validation: PriceMetrics;
}

export interface HorizonResult {
  readonly pair: string;
  readonly horizonMinutes: number;
  readonly rows: { readonly train: number; readonly validation: number; readonly test: number };
  readonly periods: {
    readonly trainFrom: string;
    readonly validationStart: string;
    readonly testStart: string;
    readonly end: string;
    readonly embargoMinutes: number;
  };
  readonly candidates: readonly CandidateReport[];
  readonly winner: CandidateName;
  /** The selected model, fitted on TRAIN: exactly what TEST measured. */
  readonly model: TrainedModel;
  readonly conformal: ConformalCalibration;
  /** The selected model on TEST, with its split-conformal intervals. */
  readonly test: PriceMetrics;
  /**
   * The same predictions with adaptive conformal intervals (adaptive-conformal.ts), started
   * from the split-conformal half-width and updated from each outcome once it is known;
   * null when calibration gave no finite, positive half-width.
   */
  readonly adaptive: AdaptiveIntervals | null;
  /** |model error| − |persistence error| over TEST, USD: its mean and Diebold–Mariano t (HAC). */
  readonly testVsBaseline: LossComparison;
  /** With `reference: 'lightgbm'`: the library beside our trees on TEST, per loss; otherwise null. */
  readonly reference: readonly ReferenceComparison[] | null;
}

/** One of our tree candidates and LightGBM with the same loss and inputs, each on TEST (selected or not). */
export interface ReferenceComparison {
  readonly candidate: CandidateName;
  readonly ours: { readonly mae: number; readonly maeRatio: number; readonly t: number };
  readonly lightgbm: ReferenceResult;
}

/** Our tree candidates and LightGBM's name of their loss (the +partner one only where it was fitted). */
const REFERENCE_OBJECTIVES = [
  { candidate: 'median-trees', objective: 'l1' },
  { candidate: 'median-trees+partner', objective: 'l1' },
  { candidate: 'trees', objective: 'l2' },
] as const;

export interface AdaptiveIntervals {
  readonly gamma: number;
  readonly coverage: number;
  /** Mean interval width in USD, close·(e^(ŷ+q) − e^(ŷ−q)), as PriceMetrics.meanIntervalWidth. */
  readonly meanWidth: number;
  /** Half-width at the end of TEST (where a live tracker would continue). */
  readonly finalHalfWidth: number;
}

export interface PairSummary {
  readonly pair: string;
  readonly file: string;
  readonly candles: number;
  /** Minutes without trades (count = 0), applied as flat candles. */
  readonly flatCandles: number;
  /** First open time after each gap in the file (ISO). */
  readonly gaps: readonly string[];
  readonly first: string;
  readonly last: string;
}

export interface EvaluateResult {
  readonly settings: {
    readonly horizons: readonly number[];
    readonly testDays: number;
    readonly validationDays: number;
    readonly alpha: number;
    readonly folds: number;
  };
  readonly pairs: readonly PairSummary[];
  readonly results: readonly HorizonResult[];
  readonly seconds: number;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

export function defaultPairFiles(dataDir = DEFAULT_DATA_DIR): PairFile[] {
  const files = readdirSync(dataDir).sort();
  const out: PairFile[] = [];
  for (const [prefix, pair] of Object.entries(KRAKEN_PAIRS)) {
    const file = files.find((f) => f.startsWith(`${prefix}_`) && /\.csv(\.gz)?$/.test(f));
    if (file !== undefined) out.push({ pair, file: resolve(dataDir, file) });
  }
  if (out.length === 0) throw new Error(`no XBTUSD_* or ETHUSD_* candle files in ${dataDir}`);
  return out;
}

export interface SeriesEvaluationOptions extends CandidateSettings {
  /** Extra inputs after the base features (e.g. sentiment, training/sentiment.ts). */
  readonly extraFeatures?: DatasetOptions;
  /**
   * The partner pair's inputs (cross-asset.ts): adds the cross-asset candidates, which read
   * them after the base features, while the others read the base features only; every
   * candidate is fitted and scored on the same rows (those with the partner's data).
   */
  readonly crossAsset?: DatasetOptions;
  readonly testDays?: number;
  readonly validationDays?: number;
  readonly alpha?: number;
  readonly folds?: number;
  /** Exclusive end of the data (last candle open time + 1 minute); default the series' own end. */
  readonly end?: number;
  readonly log?: (line: string) => void;
  readonly reference?: 'lightgbm';
}

/** One pair, one horizon: the steps in the module comment, on an indicator series. */
export function evaluateSeries(
  pair: string,
  series: readonly SeriesPoint[],
  horizonMinutes: number,
  options: SeriesEvaluationOptions = {},
): HorizonResult {
  return evaluateSeriesWithHoldout(pair, series, horizonMinutes, options).result;
}

/** `evaluateSeries`, also returning the TEST rows it scored and their features (training re-scores the champion on them). */
export function evaluateSeriesWithHoldout(
  pair: string,
  series: readonly SeriesPoint[],
  horizonMinutes: number,
  options: SeriesEvaluationOptions = {},
): {
  readonly result: HorizonResult;
  readonly testRows: readonly Row[];
  /** The features of the rows' vectors (the selected model reads all of them or the leading ones). */
  readonly featureNames: readonly string[];
} {
  const log = options.log ?? ((): void => {});
  const alpha = options.alpha ?? 0.1;
  const lastPoint = series[series.length - 1];
  if (lastPoint === undefined) throw new RangeError('empty series');
  const end = options.end ?? lastPoint.openTime + MINUTE_MS;
  if (options.extraFeatures && options.crossAsset)
    throw new RangeError('extra features and cross-asset inputs are exclusive');
  const built = buildDataset(series, horizonMinutes, options.crossAsset ?? options.extraFeatures);
  // Only rows whose target candle (t + h) opens before `end`: an earlier `end` than the
  // series' own (the stretch every pair has data for) must not be scored with later data.
  const dataset = { ...built, rows: built.rows.filter((r) => r.openTime + horizonMinutes * MINUTE_MS < end) };
  const times = dataset.rows.map((r) => r.openTime);
  const split = chronologicalSplit(times, {
    horizonMinutes,
    end,
    ...(options.testDays === undefined ? {} : { testDays: options.testDays }),
    ...(options.validationDays === undefined ? {} : { validationDays: options.validationDays }),
  });
  const pick = (indices: readonly number[]): Row[] =>
    indices.map((i) => dataset.rows[i]).filter((r) => r !== undefined);
  const trainRows = pick(split.train);
  const validationRows = pick(split.validation);
  const testRows = pick(split.test);
  if (trainRows.length === 0 || validationRows.length === 0 || testRows.length === 0) {
    throw new RangeError(
      `${pair} h=${horizonMinutes}: empty split (train ${trainRows.length}, validation ${validationRows.length}, test ${testRows.length})`,
    );
  }
  log(`rows: train ${trainRows.length}, validation ${validationRows.length}, test ${testRows.length}`);
  const train: TrainingSet = {
    featureNames: dataset.featureNames,
    X: trainRows.map((r) => r.x),
    y: trainRows.map((r) => r.y),
  };
  const folds = expandingWindowFolds(
    trainRows.map((r) => r.openTime),
    trainRows.map((_, i) => i),
    { folds: options.folds ?? 4, embargoMinutes: horizonMinutes },
  );

  // Without cross-asset inputs every candidate reads every feature; with them, the pair's own
  // candidates read the leading base features (the partner's come last).
  const ownSet: TrainingSet = options.crossAsset
    ? {
        featureNames: featureNames(),
        X: train.X.map((x) => x.slice(0, FEATURE_NAMES.length)),
        y: train.y,
      }
    : train;
  const families = [
    ...CANDIDATES.map((candidate) => ({ candidate, set: ownSet })),
    ...(options.crossAsset ? CROSS_ASSET_CANDIDATES.map((candidate) => ({ candidate, set: train })) : []),
  ];
  const fits = families.map(({ candidate, set }) => {
    log(`${candidate.name}: fitting`);
    const fit = candidate.fit(set, folds, options, log);
    if (fit.model.kind === 'persistence') return fit;
    // Shrinkage toward persistence, chosen on VALIDATION (models/shrinkage.ts).
    const predicted = validationRows.map((r) => predictRow(fit.model, r.x));
    const { factor } = chooseShrinkage(predicted, validationRows);
    log(`${candidate.name}: shrinkage ${factor} chosen on validation`);
    return {
      ...fit,
      model: factor === 1 ? fit.model : shrinkModel(fit.model, factor),
      hyperparameters: { ...fit.hyperparameters, shrinkage: factor },
    };
  });
  const candidates: CandidateReport[] = fits.map((fit) => ({
    name: fit.name,
    hyperparameters: fit.hyperparameters,
    cvMae: fit.cvMae,
    seconds: fit.seconds,
    validation: priceMetrics(
      validationRows.map((r) => ({
        close: r.close,
        futureClose: r.futureClose,
        predicted: predictRow(fit.model, r.x),
      })),
    ),
  }));
  let winnerIndex = 0;
  candidates.forEach((c, i) => {
    if (c.validation.mae < (candidates[winnerIndex]?.validation.mae ?? Infinity)) winnerIndex = i;
  });
  const winnerFit = fits[winnerIndex];
  if (winnerFit === undefined) throw new Error('no candidates');
  const model = winnerFit.model;
  log(`selected ${winnerFit.name} on validation`);

  const conformal = calibrate(
    validationRows.map((r) => predictRow(model, r.x)),
    validationRows.map((r) => r.y),
    alpha,
  );
  const testPredictions = testRows.map((r) => {
    const predicted = predictRow(model, r.x);
    const interval = predictionInterval(predicted, conformal, r.close);
    return { close: r.close, futureClose: r.futureClose, predicted, lower: interval.lower, upper: interval.upper };
  });
  const test = priceMetrics(testPredictions);
  const adaptive = adaptiveIntervals(testRows, testPredictions, horizonMinutes, conformal);
  const modelErrors = testPredictions.map((p) => Math.abs(p.close * Math.exp(p.predicted) - p.futureClose));
  const baselineErrors = testPredictions.map((p) => Math.abs(p.close - p.futureClose));
  const first = trainRows[0];
  const result: HorizonResult = {
    pair,
    horizonMinutes,
    rows: { train: trainRows.length, validation: validationRows.length, test: testRows.length },
    periods: {
      trainFrom: iso(first?.openTime ?? NaN),
      validationStart: iso(split.validationStart),
      testStart: iso(split.testStart),
      end: iso(split.end),
      embargoMinutes: split.embargoMs / MINUTE_MS,
    },
    candidates,
    winner: winnerFit.name,
    model,
    conformal,
    test,
    adaptive,
    testVsBaseline: dieboldMariano(modelErrors, baselineErrors, horizonMinutes),
    reference:
      options.reference === 'lightgbm'
        ? referenceComparison(fits, { folds, horizonMinutes, trainRows, validationRows, testRows }, options, log)
        : null,
  };
  return { result, testRows, featureNames: dataset.featureNames };
}

/**
 * The model's prediction from a dataset row, which may carry more features than the model
 * reads (a pair-only model on a dataset with the partner's inputs after the base features).
 */
export function predictRow(model: TrainedModel, x: readonly number[]): number {
  return predict(model, x.length === model.featureNames.length ? x : x.slice(0, model.featureNames.length));
}

/**
 * `--reference lightgbm`: LightGBM with our tree candidates' settings on the same rows and
 * folds (reference/lightgbm.ts), per loss, and each candidate's own TEST score beside it.
 */
function referenceComparison(
  fits: readonly { readonly name: CandidateName; readonly model: TrainedModel }[],
  rows: {
    readonly folds: readonly Fold[];
    readonly horizonMinutes: number;
    readonly trainRows: readonly Row[];
    readonly validationRows: readonly Row[];
    readonly testRows: readonly Row[];
  },
  settings: CandidateSettings,
  log: (line: string) => void,
): ReferenceComparison[] {
  const baseline = rows.testRows.map((r) => Math.abs(r.close - r.futureClose));
  return REFERENCE_OBJECTIVES.flatMap(({ candidate, objective }) => {
    const ours = fits.find((f) => f.name === candidate);
    if (ours === undefined) return [];
    // The candidate's own inputs: the leading features of each row (predictRow's rule).
    const featureNames = ours.model.featureNames;
    const inputs = (list: readonly Row[]): Row[] => list.map((r) => ({ ...r, x: r.x.slice(0, featureNames.length) }));
    const predicted = rows.testRows.map((r) => predictRow(ours.model, r.x));
    const score = priceMetrics(
      rows.testRows.map((r, i) => ({ close: r.close, futureClose: r.futureClose, predicted: predicted[i] ?? NaN })),
    );
    const errors = rows.testRows.map((r, i) => Math.abs(r.close * Math.exp(predicted[i] ?? NaN) - r.futureClose));
    log(`lightgbm reference (${candidate}, ${objective}): fitting`);
    const lightgbm = lightgbmReference(
      {
        featureNames,
        train: inputs(rows.trainRows),
        validation: inputs(rows.validationRows),
        test: inputs(rows.testRows),
        folds: rows.folds,
        horizonMinutes: rows.horizonMinutes,
      },
      {
        objective,
        ...(settings.treeDepths === undefined ? {} : { depths: settings.treeDepths }),
        ...(settings.treeMaxRounds === undefined ? {} : { maxRounds: settings.treeMaxRounds }),
        ...(settings.treeLearningRate === undefined ? {} : { learningRate: settings.treeLearningRate }),
        ...(settings.treeMinLeaf === undefined ? {} : { minLeaf: settings.treeMinLeaf }),
        log,
      },
    );
    log(
      `lightgbm reference (${candidate}, ${objective}): depth=${lightgbm.depth} rounds=${lightgbm.rounds} ` +
        `shrinkage ${lightgbm.shrinkage}, TEST ratio ${lightgbm.maeRatio.toFixed(4)} (${lightgbm.seconds.toFixed(1)}s)`,
    );
    const t = dieboldMariano(errors, baseline, rows.horizonMinutes).t;
    return [{ candidate, ours: { mae: score.mae, maeRatio: score.maeRatio, t }, lightgbm }];
  });
}

function adaptiveIntervals(
  rows: readonly Row[],
  predictions: readonly { readonly close: number; readonly predicted: number }[],
  horizonMinutes: number,
  conformal: ConformalCalibration,
): AdaptiveIntervals | null {
  if (!(Number.isFinite(conformal.q) && conformal.q > 0)) return null;
  const replay = adaptiveHoldout({
    predicted: predictions.map((p) => p.predicted),
    actual: rows.map((r) => r.y),
    openTimes: rows.map((r) => r.openTime),
    horizonMinutes,
    initialQ: conformal.q,
    alpha: conformal.alpha,
  });
  let widthSum = 0;
  predictions.forEach((p, i) => {
    const q = replay.halfWidths[i] ?? NaN;
    widthSum += p.close * (Math.exp(p.predicted + q) - Math.exp(p.predicted - q));
  });
  return {
    gamma: replay.state.gamma,
    coverage: replay.coverage,
    meanWidth: widthSum / predictions.length,
    finalHalfWidth: halfWidth(replay.state),
  };
}
