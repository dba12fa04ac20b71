/**
 * Shrinkage toward persistence: a model's predicted log return multiplied by a factor in
 * (0, 1]. One-minute returns are mostly noise, so a model's signal is real but its size is
 * overstated by the noise it also fitted; scaling it down trades a little of the signal for
 * much less noise. The factor is chosen on VALIDATION (evaluate.ts), from a short grid.
 *
 * Every model here predicts linearly in its output parameters, so the factor is folded into
 * them: the shrunk model is an ordinary model of the same kind (same ONNX graph shape, same
 * `predict`), and nothing downstream needs to know.
 */
import type { TrainedModel } from '../model-types.ts';

/** The factors tried; 1 (no shrinkage) last, so it wins ties. */
export const SHRINKAGE_FACTORS: readonly number[] = [0.25, 0.5, 0.75, 1];

/** `model` with its predicted log return multiplied by `factor`. */
export function shrinkModel(model: TrainedModel, factor: number): TrainedModel {
  if (!(factor > 0 && factor <= 1)) throw new RangeError(`shrinkage factor must be in (0, 1], got ${factor}`);
  switch (model.kind) {
    case 'persistence':
      return model;
    case 'linear':
      return { ...model, weights: model.weights.map((w) => w * factor), intercept: model.intercept * factor };
    case 'trees':
      return { ...model, baseScore: model.baseScore * factor, learningRate: model.learningRate * factor };
  }
}

export interface PricedRow {
  readonly close: number;
  readonly futureClose: number;
}

/**
 * The factor with the lowest price MAE on `rows`, given the unshrunk model's predicted log
 * returns on them (the last factor wins a tie).
 */
export function chooseShrinkage(
  predicted: readonly number[],
  rows: readonly PricedRow[],
  factors: readonly number[] = SHRINKAGE_FACTORS,
): { readonly factor: number; readonly mae: number } {
  if (predicted.length !== rows.length || rows.length === 0) throw new RangeError('length mismatch or empty');
  let best = { factor: NaN, mae: Infinity };
  for (const factor of factors) {
    let sum = 0;
    rows.forEach((r, i) => (sum += Math.abs(r.close * Math.exp(factor * (predicted[i] ?? NaN)) - r.futureClose)));
    const mae = sum / rows.length;
    if (mae <= best.mae) best = { factor, mae };
  }
  return best;
}
