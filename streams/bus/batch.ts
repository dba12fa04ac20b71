/**
 * The part of stateful processing both buses share: apply a batch of records to
 * private copies of the affected states, turning bad records into dead letters
 * instead of failing the batch.
 */
import { TOPICS } from '../../schema/topics.ts';
import type { DeadLetter } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { InboundRecord, OutboundRecord, StatefulProcessor } from './bus.ts';

const recordsProcessed = counter(
  'tickcast_processor_records_total',
  'Input records a stateful processor applied, by outcome',
  ['processor', 'outcome'],
);

export interface AppliedBatch<S> {
  readonly outputs: OutboundRecord[];
  /** States changed by the batch; committed together with the outputs. */
  readonly changed: Map<string, S>;
}

/** The key under which a record's state lives: its record key (the pair). */
export function stateKeyOf(record: InboundRecord): string {
  return record.key ?? '';
}

/** `between` runs before each record: the Kafka bus heartbeats there, so a slow batch keeps its group membership. */
export async function applyBatch<S>(
  processor: StatefulProcessor<S>,
  committed: ReadonlyMap<string, S>,
  records: readonly InboundRecord[],
  between?: () => Promise<void>,
): Promise<AppliedBatch<S>> {
  const changed = new Map<string, S>();
  const outputs: OutboundRecord[] = [];
  for (const record of records) {
    await between?.();
    const key = stateKeyOf(record);
    let state = changed.get(key);
    if (state === undefined) {
      const base = committed.get(key);
      state = base === undefined ? processor.initialState(key) : structuredClone(base);
      changed.set(key, state);
    }
    try {
      outputs.push(...(await processor.process(state, record)));
      recordsProcessed.inc({ processor: processor.name, outcome: 'applied' });
    } catch (error) {
      // A record that cannot be applied (bad schema, impossible values) would fail on
      // every retry: keep it as a dead letter and go on. Anything else is an outage
      // and fails the batch so it is retried from the last commit.
      if (!(error instanceof TickcastError) || error.retriable) throw error;
      recordsProcessed.inc({ processor: processor.name, outcome: 'dead-lettered' });
      outputs.push(deadLetterFor(processor.name, record, error));
    }
  }
  return { outputs, changed };
}

export function deadLetterFor(processor: string, record: InboundRecord, error: TickcastError): OutboundRecord {
  const letter: DeadLetter = {
    v: 1,
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key,
    value: record.value === null ? null : record.value.toString('utf8'),
    code: error.code,
    message: error.message,
    processor,
    at: Date.now(),
  };
  return { topic: TOPICS.deadLetters.name, key: record.topic, value: letter };
}

/**
 * For the store writers: runs `take` on every record (it decodes the record and keeps
 * the value); a record it rejects with a TickcastError becomes a dead letter, logged,
 * instead of failing the batch. Returns the dead letters to publish.
 */
export function takeOrDeadLetter(
  processor: string,
  records: readonly InboundRecord[],
  log: Logger,
  take: (record: InboundRecord) => void,
): OutboundRecord[] {
  const rejected: OutboundRecord[] = [];
  for (const record of records) {
    try {
      take(record);
    } catch (error) {
      if (!(error instanceof TickcastError)) throw error;
      rejected.push(deadLetterFor(processor, record, error));
      log.warn({ code: error.code, topic: record.topic, offset: record.offset }, error.message);
    }
  }
  return rejected;
}
