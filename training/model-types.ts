/**
 * The trained models' parameters, as plain data: what training produces, what the ONNX
 * export turns into graphs, and what the TypeScript reference prediction evaluates. All
 * models predict the log return of the close over the horizon from one feature vector.
 */

/** Features are standardized inside every model ((x - mean) / scale) so raw vectors go in. */
export interface Standardizer {
  readonly mean: readonly number[];
  readonly scale: readonly number[];
}

/** Predicts 0: the next close equals the current close. */
export interface PersistenceModel {
  readonly kind: 'persistence';
  readonly featureNames: readonly string[];
}

/** Ridge regression on standardized features. */
export interface LinearModel {
  readonly kind: 'linear';
  readonly featureNames: readonly string[];
  readonly standardizer: Standardizer;
  readonly weights: readonly number[];
  readonly intercept: number;
}

/**
 * A split node sends x to `left` when x[feature] < threshold (strictly less, on the
 * standardized value), else to `right`; children are indices into the same tree's nodes.
 */
export type TreeNode =
  | {
      readonly kind: 'split';
      readonly feature: number;
      readonly threshold: number;
      readonly left: number;
      readonly right: number;
    }
  | { readonly kind: 'leaf'; readonly value: number };

/** Gradient-boosted regression trees: baseScore + sum over trees of (learningRate * leaf value); node 0 is each tree's root. */
export interface TreeEnsembleModel {
  readonly kind: 'trees';
  readonly featureNames: readonly string[];
  readonly standardizer: Standardizer;
  readonly baseScore: number;
  readonly learningRate: number;
  readonly trees: readonly { readonly nodes: readonly TreeNode[] }[];
}

export type TrainedModel = PersistenceModel | LinearModel | TreeEnsembleModel;
