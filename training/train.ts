/**
 * `tickcast train`: trains one pair and horizon (training/evaluate.ts' selection), logs
 * the run to the registry (params, holdout metrics, the ONNX graph, the feature list and
 * the evaluation report), registers a version, and decides its alias:
 *
 * - champion only if it beats, beyond noise (Diebold–Mariano t ≤ −2 on the paired absolute
 *   errors), both the persistence baseline and the current champion on the same holdout
 *   (the current champion's ONNX graph is run on this run's TEST rows);
 * - otherwise challenger, with the reason logged as the run's `promotion` tag.
 */
import type { ModelRegistry } from '../registry/registry.ts';
import {
  CHALLENGER_ALIAS,
  CHAMPION_ALIAS,
  INTERVAL_METRIC,
  modelName,
  FEATURES_ARTIFACT,
  ONNX_ARTIFACT,
} from '../registry/model-names.ts';
import type { Row, SeriesPoint } from './dataset.ts';
import { evaluateSeriesWithHoldout, type HorizonResult, type SeriesEvaluationOptions } from './evaluate.ts';
import { dieboldMariano, SIGNIFICANT_T } from './metrics.ts';
import { toOnnx } from './onnx/export.ts';
import { BOOTSTRAP_TAG } from './bootstrap.ts';
import { loadOnnxModel } from './onnx/session.ts';

export interface TrainRequest {
  readonly registry: ModelRegistry;
  readonly pair: string;
  readonly horizonMinutes: number;
  readonly series: readonly SeriesPoint[];
  /** Split and candidate settings (defaults: 7 test days, 7 validation days, evaluate's search grids). */
  readonly settings?: SeriesEvaluationOptions;
  /** Where the history came from, as the run's `training_data` param says (e.g. a file, the feature store). */
  readonly dataSource?: string;
  /**
   * A bootstrap model (bootstrap.ts): registered as challenger whatever it scores, marked in its
   * params and version tags, so it never stands in the gate of the full model that replaces it.
   */
  readonly bootstrap?: boolean;
  readonly log?: (line: string) => void;
}

export interface TrainOutcome {
  readonly modelName: string;
  readonly version: string;
  readonly alias: typeof CHAMPION_ALIAS | typeof CHALLENGER_ALIAS;
  readonly reason: string;
  readonly result: HorizonResult;
  /** The previous champion's MAE on this run's TEST rows, when there was one it could run. */
  readonly championMae: number | null;
  readonly runUrl: string | null;
}

export async function trainAndRegister(request: TrainRequest): Promise<TrainOutcome> {
  const { registry, pair, horizonMinutes, series } = request;
  const log = request.log ?? ((): void => {});
  const name = modelName(pair, horizonMinutes);
  const settings = request.settings ?? {};
  const { result, testRows, featureNames } = evaluateSeriesWithHoldout(pair, series, horizonMinutes, {
    ...settings,
    log,
  });

  const onnx = toOnnx(result.model, { horizonMinutes, pair }, { inputType: 'float64' });

  // Both versions are scored through their ONNX graphs on the same rows, so equal models tie exactly.
  const champion = await registry.getVersionByAlias(name, CHAMPION_ALIAS);
  const championBytes = champion?.runId ? await registry.downloadArtifact(champion.runId, ONNX_ARTIFACT) : null;
  const championErrors = championBytes ? await onnxErrors(championBytes, featureNames, testRows) : null;
  const candidateErrors = championErrors === null ? null : await onnxErrors(onnx, featureNames, testRows);
  const championMae = championErrors === null ? null : mean(championErrors);

  // A win means more than noise: the Diebold–Mariano t of the paired absolute errors on the
  // holdout must be ≤ −2, against persistence (as `tickcast evaluate` reports) and against the
  // champion. An equal retrained model therefore never replaces the champion.
  const gain = result.testVsBaseline;
  const beatsBaseline = gain.t <= -SIGNIFICANT_T;
  const overChampion =
    championErrors === null || candidateErrors === null
      ? null
      : dieboldMariano(candidateErrors, championErrors, horizonMinutes);
  const beatsChampion = championErrors === null || (overChampion !== null && overChampion.t <= -SIGNIFICANT_T);
  const promote = beatsBaseline && beatsChampion && request.bootstrap !== true;
  const gate =
    beatsBaseline && beatsChampion
      ? `beats persistence (${fmt(result.test.mae)} < ${fmt(result.test.baselineMae)} USD MAE, t ${gain.t.toFixed(2)})` +
        (overChampion === null
          ? ' and there is no comparable champion'
          : ` and champion v${champion?.version} (${fmt(championMae ?? NaN)}, t ${overChampion.t.toFixed(2)})`)
      : !beatsBaseline
        ? `does not beat persistence on the holdout beyond noise (${fmt(result.test.mae)} vs ${fmt(result.test.baselineMae)} USD MAE, ` +
          `Diebold–Mariano t ${gain.t.toFixed(2)}, needs ≤ −${SIGNIFICANT_T})`
        : `does not beat champion v${champion?.version} on the same holdout beyond noise (${fmt(result.test.mae)} vs ` +
          `${fmt(championMae ?? NaN)} USD MAE, Diebold–Mariano t ${(overChampion?.t ?? NaN).toFixed(2)})`;
  const reason = request.bootstrap ? `bootstrap model, challenger until the full model replaces it (${gate})` : gate;

  const experiment = await registry.ensureExperiment(name);
  const run = await registry.createRun(experiment.id, {
    tags: { pair, horizon_minutes: String(horizonMinutes), winner: result.winner, promotion: reason },
  });
  const winner = result.candidates.find((c) => c.name === result.winner);
  await registry.logParams(run.runId, {
    candidate: result.winner,
    ...(request.dataSource ? { training_data: request.dataSource } : {}),
    ...(request.bootstrap ? { [BOOTSTRAP_TAG]: 'true' } : {}),
    feature_count: result.model.featureNames.length,
    ...Object.fromEntries(Object.entries(winner?.hyperparameters ?? {}).map(([k, v]) => [`hp_${k}`, v])),
    train_from: result.periods.trainFrom,
    validation_start: result.periods.validationStart,
    test_start: result.periods.testStart,
    test_end: result.periods.end,
  });
  await registry.logMetrics(run.runId, {
    mae: result.test.mae,
    rmse: result.test.rmse,
    baseline_mae: result.test.baselineMae,
    mae_ratio: result.test.maeRatio,
    directional_accuracy: result.test.directionalAccuracy,
    interval_coverage: result.test.intervalCoverage,
    [INTERVAL_METRIC]: result.conformal.q,
    dm_t_vs_persistence: gain.t,
    ...(championMae === null ? {} : { champion_mae_same_holdout: championMae }),
    ...(overChampion === null ? {} : { dm_t_vs_champion: overChampion.t }),
  });
  await registry.uploadArtifact(run.runId, ONNX_ARTIFACT, onnx);
  await registry.uploadArtifact(run.runId, FEATURES_ARTIFACT, json(result.model.featureNames));
  await registry.uploadArtifact(run.runId, 'evaluation.json', json({ ...result, model: undefined }));
  await registry.finishRun(run.runId);

  if (!(await registry.getModel(name))) {
    await registry.createRegisteredModel(name, { description: `${pair} close, ${horizonMinutes} minutes ahead` });
  }
  const version = await registry.createVersion(name, run.runId, 'model', {
    tags: { promotion: reason, ...(request.bootstrap ? { [BOOTSTRAP_TAG]: 'true' } : {}) },
  });
  const alias = promote ? CHAMPION_ALIAS : CHALLENGER_ALIAS;
  await registry.setAlias(name, alias, version.version);
  log(`${name} v${version.version} -> ${alias}: ${reason}`);
  return {
    modelName: name,
    version: version.version,
    alias,
    reason,
    result,
    championMae,
    runUrl: registry.runUrl(run.runId, experiment.id),
  };
}

/**
 * The absolute USD error of an ONNX model on each row; null when it reads features the rows
 * do not have. A model reading the rows' leading features (a pair-only model on rows that
 * also carry the partner's inputs) is scored on those.
 */
async function onnxErrors(
  bytes: Uint8Array,
  rowFeatureNames: readonly string[],
  rows: readonly Row[],
): Promise<number[] | null> {
  if (rows.length === 0) return null;
  const model = await loadOnnxModel(bytes);
  try {
    const n = model.featureNames.length;
    if (model.featureNames.join() !== rowFeatureNames.slice(0, n).join()) return null;
    const predicted = await model.predict(rows.map((r) => r.x.slice(0, n)));
    return rows.map((r, i) => Math.abs(r.close * Math.exp(predicted[i] ?? Number.NaN) - r.futureClose));
  } finally {
    await model.close();
  }
}

const mean = (values: readonly number[]): number => values.reduce((s, v) => s + v, 0) / values.length;
const fmt = (x: number): string => x.toFixed(4);
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value, null, 2));
