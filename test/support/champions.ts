/** A registered champion without training: a linear ONNX graph over the predictor's features. */
import type { ModelRegistry } from '../../registry/registry.ts';
import { CHAMPION_ALIAS, ONNX_ARTIFACT } from '../../registry/model-names.ts';
import { FEATURE_NAMES } from '../../training/features.ts';
import { toOnnx } from '../../training/onnx/export.ts';

/**
 * Registers the next version of `name` predicting the log return `intercept` whatever the
 * features (so predictions say which version made them), and points `champion` at it.
 * Returns the version.
 */
export async function registerConstantChampion(
  registry: ModelRegistry,
  name: string,
  intercept: number,
): Promise<string> {
  const experiment = await registry.ensureExperiment(`${name}-test`);
  const run = await registry.createRun(experiment.id);
  const bytes = toOnnx({
    kind: 'linear',
    featureNames: FEATURE_NAMES,
    standardizer: { mean: FEATURE_NAMES.map(() => 0), scale: FEATURE_NAMES.map(() => 1) },
    weights: FEATURE_NAMES.map(() => 0),
    intercept,
  });
  await registry.uploadArtifact(run.runId, ONNX_ARTIFACT, bytes);
  await registry.finishRun(run.runId);
  await registry.createRegisteredModel(name);
  const version = await registry.createVersion(name, run.runId, 'model');
  await registry.setAlias(name, CHAMPION_ALIAS, version.version);
  return version.version;
}
