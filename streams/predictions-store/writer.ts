/**
 * The predictions store writer: predictions, their outcomes and rolling performance from
 * the bus into one predictions store. PostgreSQL is what the API reads; with Elasticsearch
 * configured a second writer, in a consumer group of its own, fills it for search and the
 * dashboards (see `predictionStoresOf` in streams/runtime.ts). At-least-once delivery;
 * every write is idempotent (by prediction id, by performance key), so re-deliveries
 * change nothing.
 *
 * Outcomes travel on their own topic and can overtake their predictions (another
 * partition, a backlog, the in-process bus serving one topic at a time), so they have a
 * consumer of their own that waits, with backoff, until the predictions they update are
 * stored; one that never arrives is dead-lettered after `outcomeWaitMs`, not dropped.
 */
import {
  modelPerformanceSchema,
  predictionOutcomeSchema,
  predictionSchema,
  type Prediction,
} from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { Bus, InboundRecord, RunningTask } from '../bus/bus.ts';
import { deadLetterFor, takeOrDeadLetter } from '../bus/batch.ts';
import { decodeValue } from '../bus/codec.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../lib/backoff.ts';
import {
  PredictionsNotStored,
  type ModelPerformanceRow,
  type PredictionOutcome,
  type PredictionStore,
} from './store.ts';

const outcomeWaits = counter(
  'tickcast_predictions_store_outcome_waits_total',
  'Times an outcome batch waited for its predictions to be stored',
);

/** The consumer group (and the outcomes consumer's prefix) unless the caller names another. */
export const PREDICTIONS_WRITER_GROUP = 'predictions-writer';
const OUTCOME_BACKOFF: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 5_000, multiplier: 2, jitter: 0.2 };

export interface PredictionsWriterOptions {
  /** How long outcomes wait for their predictions before they are dead-lettered. */
  readonly outcomeWaitMs?: number;
  /**
   * Consumer group; outcomes use `<groupId>-outcomes`. One per store, so each store reads
   * every record and a store that is down holds back only its own group. Default
   * PREDICTIONS_WRITER_GROUP.
   */
  readonly groupId?: string;
}

export async function startPredictionsWriter(
  bus: Bus,
  store: PredictionStore,
  logger: Logger,
  options: PredictionsWriterOptions = {},
): Promise<RunningTask> {
  const group = options.groupId ?? PREDICTIONS_WRITER_GROUP;
  const log = logger.child({ processor: group });
  const outcomeWaitMs = options.outcomeWaitMs ?? 10 * 60_000;
  await store.ensureSchema();

  const rows = await bus.consume({
    groupId: group,
    topics: [TOPICS.predictions.name, TOPICS.modelPerformance.name],
    fromBeginning: true,
    handler: async (records) => {
      const predictions: Prediction[] = [];
      const performance: ModelPerformanceRow[] = [];
      const rejected = takeOrDeadLetter(group, records, log, (record) => {
        if (record.topic === TOPICS.predictions.name) predictions.push(decodeValue(predictionSchema, record));
        else {
          const { v: _v, ...row } = decodeValue(modelPerformanceSchema, record);
          performance.push(row);
        }
      });
      await store.writePredictions(predictions);
      await store.writePerformance(performance);
      if (rejected.length > 0) await bus.publish(rejected);
    },
  });

  const outcomes = await bus.consume({
    groupId: `${group}-outcomes`,
    topics: [TOPICS.predictionOutcomes.name],
    fromBeginning: true,
    handler: async (records) => {
      const values: (PredictionOutcome & { record: InboundRecord })[] = [];
      const rejected = takeOrDeadLetter(group, records, log, (record) => {
        const o = decodeValue(predictionOutcomeSchema, record);
        values.push({ id: o.id, actualPrice: o.actualPrice, error: o.error, record });
      });
      let pending = values;
      const deadline = Date.now() + outcomeWaitMs;
      for (let attempt = 0; pending.length > 0; attempt++) {
        try {
          await store.recordOutcomes(pending.map(({ id, actualPrice, error }) => ({ id, actualPrice, error })));
          pending = [];
        } catch (error) {
          if (!(error instanceof PredictionsNotStored)) throw error;
          const missing = new Set(error.ids);
          pending = pending.filter((o) => missing.has(o.id));
          if (Date.now() >= deadline) {
            for (const o of pending) rejected.push(deadLetterFor(group, o.record, error));
            log.error({ ids: error.ids }, 'outcomes whose predictions never arrived: dead-lettered');
            break;
          }
          outcomeWaits.inc();
          await sleep(backoffDelay(attempt, OUTCOME_BACKOFF));
        }
      }
      if (rejected.length > 0) await bus.publish(rejected);
    },
  });

  return {
    done: Promise.all([rows.done, outcomes.done]).then(() => undefined),
    stop: async () => {
      await Promise.all([rows.stop(), outcomes.stop()]);
    },
  };
}
