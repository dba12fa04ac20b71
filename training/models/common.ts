/** Rows as the model fitters take them: raw feature vectors and log-return targets. */
export interface TrainingSet {
  readonly featureNames: readonly string[];
  readonly X: readonly (readonly number[])[];
  readonly y: readonly number[];
}

/** The rows at `indices`, in that order. */
export function subset(set: TrainingSet, indices: readonly number[]): TrainingSet {
  const X: (readonly number[])[] = [];
  const y: number[] = [];
  for (const i of indices) {
    const x = set.X[i];
    const target = set.y[i];
    if (x === undefined || target === undefined) throw new RangeError(`row ${i} out of range`);
    X.push(x);
    y.push(target);
  }
  return { featureNames: set.featureNames, X, y };
}

export function assertTrainingSet(set: TrainingSet): void {
  if (set.X.length === 0) throw new RangeError('no training rows');
  if (set.X.length !== set.y.length) throw new RangeError(`${set.X.length} rows but ${set.y.length} targets`);
  for (const x of set.X) {
    if (x.length !== set.featureNames.length) {
      throw new RangeError(`a row has ${x.length} features, expected ${set.featureNames.length}`);
    }
  }
}
