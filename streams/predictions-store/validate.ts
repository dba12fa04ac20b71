/**
 * Checks of what a store is asked to write, shared by both implementations, so a bad
 * value is refused before anything is sent (a NaN would otherwise become JSON null in
 * Elasticsearch and NaN in PostgreSQL). Every failure is INVALID_EVENT naming the ids.
 */
import { z } from 'zod';
import { pairSchema, predictionSchema, type Prediction } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { performanceKey, type ModelPerformanceRow, type PredictionOutcome } from './store.ts';

const outcomeSchema = z.object({
  id: z.string().min(1),
  actualPrice: z.number().finite().positive(),
  error: z.number().finite(),
});

const metric = z.number().finite().nullable();

const performanceRowSchema = z.object({
  modelName: z.string().min(1),
  modelVersion: z.string().min(1),
  pair: pairSchema,
  horizonMinutes: z.number().int().positive(),
  count: z.number().int().nonnegative(),
  mae: metric,
  rmse: metric,
  mape: metric,
  directionalAccuracy: metric,
  intervalCoverage: metric,
  updatedAt: z.number().int().nonnegative(),
});

function refuse<T>(what: string, values: readonly T[], schema: z.ZodType, key: (value: T) => string): void {
  const bad: string[] = [];
  for (const value of values) {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      bad.push(`${key(value)} (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`);
    }
  }
  if (bad.length > 0) throw new TickcastError('INVALID_EVENT', `invalid ${what}: ${bad.join('; ')}`);
}

export function checkPredictions(predictions: readonly Prediction[]): void {
  refuse('predictions', predictions, predictionSchema, (p) => String(p.id));
}

export function checkOutcomes(outcomes: readonly PredictionOutcome[]): void {
  refuse('outcomes', outcomes, outcomeSchema, (o) => String(o.id));
}

export function checkPerformanceRows(rows: readonly ModelPerformanceRow[]): void {
  refuse('model performance rows', rows, performanceRowSchema, performanceKey);
}
