/**
 * The part of stateful processing both buses share: apply a batch of records to
 * private copies of the affected states, turning bad records into dead letters
 * instead of failing the batch.
 */
import { LRUCache } from 'lru-cache';
import { TOPICS } from '../../schema/topics.ts';
import type { DeadLetter } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter, gauge } from '../../lib/metrics.ts';
import type { InboundRecord, OutboundRecord, StatefulProcessor } from './bus.ts';

const recordsProcessed = counter(
  'tickcast_processor_records_total',
  'Input records a stateful processor applied, by outcome',
  ['processor', 'outcome'],
);

const stateKeys = gauge('tickcast_processor_state_keys', 'Keys a stateful processor holds a state for', ['processor']);
const statesEvicted = counter(
  'tickcast_processor_states_evicted_total',
  'States forgotten because the processor holds its maxKeys already',
  ['processor'],
);

/** A processor's committed states, as both buses keep them. */
export interface StateStore<S> {
  get(key: string): S | undefined;
  set(key: string, state: S): void;
  delete(key: string): void;
  readonly size: number;
}

/**
 * Every state, or with `processor.maxKeys` the most recently used ones: keys that never
 * come back (article ids) would otherwise grow the map for as long as the process runs.
 * `onEvict` hears each key forgotten for room (not ones replaced or deleted).
 */
export function stateStore<S>(processor: StatefulProcessor<S>, onEvict?: (key: string) => void): StateStore<S> {
  if (processor.maxKeys === undefined) return new Map<string, S>();
  const cache = new LRUCache<string, { readonly state: S }>({
    max: processor.maxKeys,
    dispose: (_value, key, reason) => {
      if (reason !== 'evict') return;
      statesEvicted.inc({ processor: processor.name });
      onEvict?.(key);
    },
  });
  return {
    get: (key) => cache.get(key)?.state,
    set: (key, state) => void cache.set(key, { state }),
    delete: (key) => void cache.delete(key),
    get size() {
      return cache.size;
    },
  };
}

/** One task's states in a replica's `TaskStateStores`; `clear` forgets them all (the task left this replica). */
export interface TaskStateStore<S> extends StateStore<S> {
  clear(): void;
}

/** The states of the tasks one replica runs, bounded together (see `taskStateStores`). */
export interface TaskStateStores<S> {
  /** The store of task `partition`; `onEvict` hears each of its keys forgotten for room. */
  forTask(partition: number, onEvict: (key: string) => void): TaskStateStore<S>;
}

/**
 * The states of the Kafka tasks (input partitions) one replica runs. Without `maxKeys` each task
 * keeps all its states. With it, the replica keeps the most recently used `maxKeys` states over
 * all its tasks, as one process did before there were tasks: article ids hash to partitions
 * unevenly, and a bound split per task would forget one task's recent keys while another has
 * room. Each key forgotten is reported to its own task, whose changelog partition gets the
 * tombstone.
 */
export function taskStateStores<S>(processor: StatefulProcessor<S>): TaskStateStores<S> {
  const maxKeys = processor.maxKeys;
  if (maxKeys === undefined) {
    return {
      forTask: () => {
        const states = new Map<string, S>();
        return Object.assign(states, { clear: () => Map.prototype.clear.call(states) });
      },
    };
  }
  interface Entry {
    readonly state: S;
    readonly partition: number;
    readonly key: string;
  }
  const counts = new Map<number, number>();
  const evictions = new Map<number, (key: string) => void>();
  const cache = new LRUCache<string, Entry>({
    max: maxKeys,
    dispose: (entry, _id, reason) => {
      // A replaced state ('set') is still there; an evicted or deleted one is not.
      if (reason !== 'evict' && reason !== 'delete') return;
      counts.set(entry.partition, (counts.get(entry.partition) ?? 1) - 1);
      if (reason !== 'evict') return;
      statesEvicted.inc({ processor: processor.name });
      evictions.get(entry.partition)?.(entry.key);
    },
  });
  // A key is the task's own; the same key cannot be in two tasks (keys hash to one partition),
  // but a task's id in the cache keeps the stores apart whatever the keys.
  const idOf = (partition: number, key: string): string => `${partition}/${key}`;
  return {
    forTask: (partition, onEvict) => {
      evictions.set(partition, onEvict);
      return {
        get: (key) => cache.get(idOf(partition, key))?.state,
        set: (key, state) => {
          const id = idOf(partition, key);
          if (!cache.has(id)) counts.set(partition, (counts.get(partition) ?? 0) + 1);
          cache.set(id, { state, partition, key });
        },
        delete: (key) => void cache.delete(idOf(partition, key)),
        get size() {
          return counts.get(partition) ?? 0;
        },
        clear: () => {
          evictions.delete(partition);
          for (const [id, entry] of cache.entries()) if (entry.partition === partition) cache.delete(id);
          counts.delete(partition);
        },
      };
    },
  };
}

/** Keeps a committed batch's states; `totalKeys` counts the processor's keys when `states` holds a share of them. */
export function commitStates<S>(
  processor: string,
  states: StateStore<S>,
  changed: ReadonlyMap<string, S>,
  totalKeys?: () => number,
): void {
  for (const [key, state] of changed) states.set(key, state);
  stateKeys.set({ processor }, totalKeys?.() ?? states.size);
}

export interface AppliedBatch<S> {
  readonly outputs: OutboundRecord[];
  /** States changed by the batch; committed together with the outputs. */
  readonly changed: Map<string, S>;
}

/** The key under which a record's state lives: its record key (the pair). */
export function stateKeyOf(record: InboundRecord): string {
  return record.key ?? '';
}

/**
 * `between` runs before each record: the Kafka bus heartbeats there, so a slow batch keeps its
 * group membership. It returns a promise only when it has something to wait for, and `process`
 * is awaited only when it returns one: an await per record was a measurable share of the
 * candles processor's time, for processors that never wait.
 */
export async function applyBatch<S>(
  processor: StatefulProcessor<S>,
  committed: Pick<StateStore<S>, 'get'>,
  records: readonly InboundRecord[],
  between?: () => Promise<void> | undefined,
): Promise<AppliedBatch<S>> {
  await processor.prepare?.(records);
  const changed = new Map<string, S>();
  const outputs: OutboundRecord[] = [];
  let applied = 0;
  let deadLettered = 0;
  try {
    for (const record of records) {
      const waiting = between?.();
      if (waiting) await waiting;
      const key = stateKeyOf(record);
      let state = changed.get(key);
      if (state === undefined) {
        const base = committed.get(key);
        state = base === undefined ? processor.initialState(key) : structuredClone(base);
        changed.set(key, state);
      }
      try {
        const result = processor.process(state, record);
        const produced = Array.isArray(result) ? result : await result;
        for (const output of produced) outputs.push(output);
        applied++;
      } catch (error) {
        // A record that cannot be applied (bad schema, impossible values) would fail on
        // every retry: keep it as a dead letter and go on. Anything else is an outage
        // and fails the batch so it is retried from the last commit.
        if (!(error instanceof TickcastError) || error.retriable) throw error;
        deadLettered++;
        outputs.push(deadLetterFor(processor.name, record, error));
      }
    }
  } finally {
    // Counted once per batch (a labelled increment per record cost more than some processors'
    // own work), including the records a failing batch applied before it failed, as before.
    if (applied > 0) recordsProcessed.inc({ processor: processor.name, outcome: 'applied' }, applied);
    if (deadLettered > 0) recordsProcessed.inc({ processor: processor.name, outcome: 'dead-lettered' }, deadLettered);
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
