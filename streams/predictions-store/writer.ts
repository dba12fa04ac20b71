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
 *
 * A store that is unavailable (a retriable error: Elasticsearch or PostgreSQL down, 429,
 * 5xx) holds its batch: the write is retried with backoff inside the handler, so the input
 * offsets are not committed, for up to `maxOutageMs`; beyond it the task fails and the
 * process exits non-zero (cli/lifecycle.ts) to be restarted, the batch still uncommitted.
 * A record the store refuses for itself (`RecordsRefused`: a mapping conflict, a 400 for one
 * document) would be refused forever: it is dead-lettered with the store's reason, counted,
 * and the rest of the batch is written.
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
import { deadLetterFor, takeOrDeadLetter } from '../bus/batch.ts';
import { decodeValue } from '../bus/codec.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../lib/backoff.ts';
import {
  performanceKey,
  PredictionsNotStored,
  RecordsRefused,
  type ModelPerformanceRow,
  type PredictionOutcome,
  type PredictionStore,
} from './store.ts';

const outcomeWaits = counter(
  'tickcast_predictions_store_outcome_waits_total',
  'Times an outcome batch waited for its predictions to be stored',
);
const refusedRecords = counter(
  'tickcast_predictions_store_refused_total',
  'Records a predictions store refused for themselves (e.g. a mapping conflict), dead-lettered',
  ['group', 'topic'],
);
const unavailableRetries = counter(
  'tickcast_predictions_store_unavailable_retries_total',
  'Batch writes retried because the predictions store was unavailable',
  ['group'],
);

/** The consumer group (and the outcomes consumer's prefix) unless the caller names another. */
export const PREDICTIONS_WRITER_GROUP = 'predictions-writer';
const OUTCOME_BACKOFF: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 5_000, multiplier: 2, jitter: 0.2 };
/** Between writes of a held batch while the store is unavailable (the store retries each request itself first). */
const UNAVAILABLE_BACKOFF: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 5_000, multiplier: 2, jitter: 0.2 };

export interface PredictionsWriterOptions {
  /** How long outcomes wait for their predictions before they are dead-lettered. */
  readonly outcomeWaitMs?: number;
  /**
   * How long a batch is held and retried while the store is unavailable before the task
   * fails (ELASTICSEARCH_MAX_OUTAGE_MS, DATABASE_MAX_OUTAGE_MS). Default 5 minutes.
   */
  readonly maxOutageMs?: number;
  /**
   * Consumer group; outcomes use `<groupId>-outcomes`. One per store, so each store reads
   * every record and a store that is down holds back only its own group. Default
   * PREDICTIONS_WRITER_GROUP.
   */
  readonly groupId?: string;
}

/** A value to write with the record it came from (for its dead letter) and its id in the store. */
interface Keyed<T> {
  readonly id: string;
  readonly value: T;
  readonly record: InboundRecord;
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
  const maxOutageMs = options.maxOutageMs ?? 5 * 60_000;
  let stopping = false;
  let giveUp!: (error: unknown) => void;
  const gaveUp = new Promise<never>((_resolve, reject) => {
    giveUp = reject;
  });
  gaveUp.catch(() => undefined);

  /**
   * `write` until it succeeds, retrying while the store is unavailable: one warning when a
   * batch starts waiting and one line when it is written, not one per retry. Beyond
   * maxOutageMs (or once the task is stopping) it throws, leaving the batch uncommitted.
   */
  const whileUnavailable = async (write: () => Promise<void>): Promise<void> => {
    let since: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await write();
        if (since !== undefined) log.info({ waitedMs: Date.now() - since }, 'predictions store writable again');
        return;
      } catch (error) {
        // Not yet stored is the outcomes' own wait (below), not an outage.
        if (!(error instanceof TickcastError) || !error.retriable || error instanceof PredictionsNotStored) throw error;
        since ??= Date.now();
        if (stopping) throw error;
        if (Date.now() - since > maxOutageMs) {
          const outage = new TickcastError(
            error.code,
            `the predictions store has been unavailable for ${Math.round((Date.now() - since) / 1000)} s, ` +
              `beyond its bound of ${Math.round(maxOutageMs / 1000)} s (group ${group}): ${error.message}`,
            { cause: error },
          );
          giveUp(outage);
          throw outage;
        }
        if (attempt === 0) {
          log.warn(
            { code: error.code, err: error },
            'predictions store unavailable: holding the batch (not committed)',
          );
        }
        unavailableRetries.inc({ group });
        await sleep(backoffDelay(attempt, UNAVAILABLE_BACKOFF));
      }
    }
  };

  /** Dead letters for the items `error` names; the items left to write again. */
  const refuse = <T>(items: readonly Keyed<T>[], error: RecordsRefused, letters: OutboundRecord[]): Keyed<T>[] => {
    const reasons = new Map(error.refused.map((r) => [r.id, r.reason]));
    const left = items.filter((item) => !reasons.has(item.id));
    // Ids the store names that are not in the call: refusing nothing would retry forever.
    if (left.length === items.length) throw error;
    for (const item of items) {
      const reason = reasons.get(item.id);
      if (reason === undefined) continue;
      const letter = new TickcastError('UPSTREAM_REJECTED', `the predictions store refused ${item.id}: ${reason}`);
      letters.push(deadLetterFor(group, item.record, letter));
      refusedRecords.inc({ group, topic: item.record.topic });
    }
    log.error({ refused: error.refused }, 'records refused by the predictions store: dead-lettered');
    return left;
  };

  /** Writes `items`, dead-lettering the ones the store refuses; returns those dead letters. */
  const writeAll = async <T>(
    items: readonly Keyed<T>[],
    write: (values: T[]) => Promise<void>,
  ): Promise<OutboundRecord[]> => {
    const letters: OutboundRecord[] = [];
    let pending = items;
    while (pending.length > 0) {
      const values = pending.map((item) => item.value);
      try {
        await whileUnavailable(() => write(values));
        break;
      } catch (error) {
        if (!(error instanceof RecordsRefused)) throw error;
        pending = refuse(pending, error, letters);
      }
    }
    return letters;
  };

  // A store down at start is waited for the same way (it would fail every batch anyway).
  await whileUnavailable(() => store.ensureSchema());

  const rows = await bus.consume({
    groupId: group,
    topics: [TOPICS.predictions.name, TOPICS.modelPerformance.name],
    fromBeginning: true,
    handler: async (records) => {
      const predictions: Keyed<Prediction>[] = [];
      const performance: Keyed<ModelPerformanceRow>[] = [];
      const rejected = takeOrDeadLetter(group, records, log, (record) => {
        if (record.topic === TOPICS.predictions.name) {
          const value = decodeValue(predictionSchema, record);
          predictions.push({ id: value.id, value, record });
        } else {
          const { v: _v, ...value } = decodeValue(modelPerformanceSchema, record);
          performance.push({ id: performanceKey(value), value, record });
        }
      });
      rejected.push(...(await writeAll(predictions, (values) => store.writePredictions(values))));
      rejected.push(...(await writeAll(performance, (values) => store.writePerformance(values))));
      if (rejected.length > 0) await bus.publish(rejected);
    },
  });

  const outcomes = await bus.consume({
    groupId: `${group}-outcomes`,
    topics: [TOPICS.predictionOutcomes.name],
    fromBeginning: true,
    handler: async (records) => {
      let pending: Keyed<PredictionOutcome>[] = [];
      const rejected = takeOrDeadLetter(group, records, log, (record) => {
        const o = decodeValue(predictionOutcomeSchema, record);
        pending.push({ id: o.id, value: { id: o.id, actualPrice: o.actualPrice, error: o.error }, record });
      });
      const deadline = Date.now() + outcomeWaitMs;
      for (let attempt = 0; pending.length > 0; attempt++) {
        const values = pending.map((o) => o.value);
        try {
          await whileUnavailable(() => store.recordOutcomes(values));
          pending = [];
        } catch (error) {
          if (error instanceof RecordsRefused) {
            pending = refuse(pending, error, rejected);
            continue;
          }
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
    done: Promise.race([Promise.all([rows.done, outcomes.done]).then(() => undefined), gaveUp]),
    stop: async () => {
      stopping = true;
      await Promise.all([rows.stop(), outcomes.stop()]);
    },
  };
}
