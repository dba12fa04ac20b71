/**
 * The predictions store writer: predictions, their outcomes and rolling performance from
 * the bus into the predictions store (PostgreSQL by default, Elasticsearch when
 * configured). At-least-once delivery; every write is idempotent (by prediction id, by
 * performance key), so re-deliveries change nothing.
 */
import {
  modelPerformanceSchema,
  predictionOutcomeSchema,
  predictionSchema,
  type Prediction,
} from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Bus, RunningTask } from '../bus/bus.ts';
import { deadLetterFor } from '../bus/batch.ts';
import { decodeValue } from '../bus/codec.ts';
import type { ModelPerformanceRow, PredictionOutcome, PredictionStore } from './store.ts';

export async function startPredictionsWriter(bus: Bus, store: PredictionStore, logger: Logger): Promise<RunningTask> {
  const log = logger.child({ processor: 'predictions-writer' });
  await store.ensureSchema();
  return bus.consume({
    groupId: 'predictions-writer',
    topics: [TOPICS.predictions.name, TOPICS.predictionOutcomes.name, TOPICS.modelPerformance.name],
    fromBeginning: true,
    handler: async (records) => {
      const predictions: Prediction[] = [];
      const outcomes: PredictionOutcome[] = [];
      const performance: ModelPerformanceRow[] = [];
      const rejected = [];
      for (const record of records) {
        try {
          if (record.topic === TOPICS.predictions.name) predictions.push(decodeValue(predictionSchema, record));
          else if (record.topic === TOPICS.predictionOutcomes.name) {
            const o = decodeValue(predictionOutcomeSchema, record);
            outcomes.push({ id: o.id, actualPrice: o.actualPrice, error: o.error });
          } else {
            const { v: _v, ...row } = decodeValue(modelPerformanceSchema, record);
            performance.push(row);
          }
        } catch (error) {
          if (!(error instanceof TickcastError)) throw error;
          rejected.push(deadLetterFor('predictions-writer', record, error));
          log.warn({ code: error.code, topic: record.topic, offset: record.offset }, error.message);
        }
      }
      // Predictions first: an outcome in the same batch updates a row that must exist.
      await store.writePredictions(predictions);
      await store.recordOutcomes(outcomes);
      await store.writePerformance(performance);
      if (rejected.length > 0) await bus.publish(rejected);
    },
  });
}
