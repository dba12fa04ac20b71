/**
 * The reference prediction: what every trained model means, in plain TypeScript. Training,
 * evaluation, conformal calibration and the ONNX export's tests all use this one function,
 * so an exported graph is checked against exactly what was evaluated.
 *
 * Output: the predicted log return of the close over the model's horizon, ln(close_{t+h} / close_t).
 */
import type { Standardizer, TrainedModel, TreeEnsembleModel } from './model-types.ts';

/** (x − mean) / scale, feature by feature. */
export function standardize(standardizer: Standardizer, x: readonly number[]): number[] {
  return x.map((v, i) => (v - (standardizer.mean[i] ?? NaN)) / (standardizer.scale[i] ?? NaN));
}

function treeValue(nodes: TreeEnsembleModel['trees'][number]['nodes'], z: readonly number[]): number {
  let index = 0;
  // A well-formed tree reaches a leaf in fewer steps than it has nodes; more means a cycle.
  for (let steps = 0; steps <= nodes.length; steps += 1) {
    const node = nodes[index];
    if (node === undefined) throw new RangeError(`tree node ${index} does not exist`);
    if (node.kind === 'leaf') return node.value;
    const v = z[node.feature];
    if (v === undefined) throw new RangeError(`split on feature ${node.feature} outside the vector`);
    index = v < node.threshold ? node.left : node.right;
  }
  throw new RangeError('tree has a cycle');
}

/** The predicted log return for raw (unstandardized) feature vector `x`, in the model's feature order. */
export function predict(model: TrainedModel, x: readonly number[]): number {
  if (x.length !== model.featureNames.length) {
    throw new RangeError(`model expects ${model.featureNames.length} features, got ${x.length}`);
  }
  switch (model.kind) {
    case 'persistence':
      return 0;
    case 'linear': {
      const z = standardize(model.standardizer, x);
      let sum = model.intercept;
      for (let i = 0; i < z.length; i += 1) sum += (model.weights[i] ?? NaN) * (z[i] ?? NaN);
      return sum;
    }
    case 'trees': {
      const z = standardize(model.standardizer, x);
      let sum = 0;
      for (const tree of model.trees) sum += treeValue(tree.nodes, z);
      return model.baseScore + model.learningRate * sum;
    }
  }
}

/** close_t · exp(predicted log return): the predicted close h minutes later. */
export function predictClose(model: TrainedModel, x: readonly number[], close: number): number {
  return close * Math.exp(predict(model, x));
}
