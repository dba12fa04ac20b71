/**
 * The predictions store writer: predictions, their outcomes and rolling performance from
 * the bus into the predictions store (PostgreSQL by default, Elasticsearch when
 * configured). At-least-once delivery; every write is idempotent (by prediction id, by
 * performance key), so re-deliveries change nothing.
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
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { Bus, InboundRecord, OutboundRecord, RunningTask } from '../bus/bus.ts';
import { deadLetterFor } from '../bus/batch.ts';
import { decodeValue } from '../bus/codec.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../sources/backoff.ts';
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

const PROCESSOR = 'predictions-writer';
const OUTCOME_BACKOFF: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 5_000, multiplier: 2, jitter: 0.2 };

export interface PredictionsWriterOptions {
  /** How long outcomes wait for their predictions before they are dead-lettered. */
  readonly outcomeWaitMs?: number;
}

/** Decodes a batch with `decode` per record; records that fail their schema become dead letters. */
function decodeBatch<T>(
  records: readonly InboundRecord[],
  decode: (record: InboundRecord) => T,
  log: Logger,
): { values: T[]; rejected: OutboundRecord[] } {
  const values: T[] = [];
  const rejected: OutboundRecord[] = [];
  for (const record of records) {
    try {
      values.push(decode(record));
    } catch (error) {
      if (!(error instanceof TickcastError)) throw error;
      rejected.push(deadLetterFor(PROCESSOR, record, error));
      log.warn({ code: error.code, topic: record.topic, offset: record.offset }, error.message);
    }
  }
  return { values, rejected };
}

type PredictionOrPerformance =
  { kind: 'prediction'; value: Prediction } | { kind: 'performance'; value: ModelPerformanceRow };

export async function startPredictionsWriter(
  bus: Bus,
  store: PredictionStore,
  logger: Logger,
  options: PredictionsWriterOptions = {},
): Promise<RunningTask> {
  const log = logger.child({ processor: PROCESSOR });
  const outcomeWaitMs = options.outcomeWaitMs ?? 10 * 60_000;
  await store.ensureSchema();

  const rows = await bus.consume({
    groupId: PROCESSOR,
    topics: [TOPICS.predictions.name, TOPICS.modelPerformance.name],
    fromBeginning: true,
    handler: async (records) => {
      const { values, rejected } = decodeBatch<PredictionOrPerformance>(
        records,
        (record) => {
          if (record.topic === TOPICS.predictions.name)
            return { kind: 'prediction', value: decodeValue(predictionSchema, record) };
          const { v: _v, ...row } = decodeValue(modelPerformanceSchema, record);
          return { kind: 'performance', value: row };
        },
        log,
      );
      await store.writePredictions(values.flatMap((r) => (r.kind === 'prediction' ? [r.value] : [])));
      await store.writePerformance(values.flatMap((r) => (r.kind === 'performance' ? [r.value] : [])));
      if (rejected.length > 0) await bus.publish(rejected);
    },
  });

  const outcomes = await bus.consume({
    groupId: `${PROCESSOR}-outcomes`,
    topics: [TOPICS.predictionOutcomes.name],
    fromBeginning: true,
    handler: async (records) => {
      const { values, rejected } = decodeBatch<PredictionOutcome & { record: InboundRecord }>(
        records,
        (record) => {
          const o = decodeValue(predictionOutcomeSchema, record);
          return { id: o.id, actualPrice: o.actualPrice, error: o.error, record };
        },
        log,
      );
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
            for (const o of pending) rejected.push(deadLetterFor(PROCESSOR, o.record, error));
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
