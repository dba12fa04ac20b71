/**
 * The one interface every stream processor talks to. Two implementations run the same
 * processor code: `KafkaBus` (production, and the tests against real Kafka) and
 * `MemoryBus` (the embedded default: one process, no broker).
 */
import type { z } from 'zod';
import type { TopicSpec } from '../../schema/topics.ts';

/** A record as a consumer receives it: the value is raw bytes until a schema accepts it. */
export interface InboundRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
}

/** A record to publish; `value` is serialized as JSON. */
export interface OutboundRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: unknown;
}

/** A running consumer or processor. `stop` finishes the batch in hand, commits it, and leaves. */
export interface RunningTask {
  stop(): Promise<void>;
  /** Settles when the task stops; rejects if it died. */
  readonly done: Promise<void>;
}

export interface ConsumeOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a group without committed offsets starts. */
  readonly fromBeginning: boolean;
  /** Called per batch; offsets are committed only after it resolves (at-least-once). */
  readonly handler: (records: readonly InboundRecord[]) => Promise<void>;
  /**
   * A live feed for this process alone (e.g. GraphQL subscriptions): a consumer group of its
   * own (`groupId` plus a random suffix), so every replica of a service sees every record;
   * it starts at the end of the topics, commits nothing, and `consume` resolves once it
   * has joined. `fromBeginning` is ignored.
   */
  readonly live?: boolean;
}

/**
 * A stateful, exactly-once processor: for each input record it updates the state of
 * the record's key and returns the records to publish. On Kafka, a batch's outputs,
 * the changed states and the input offsets are committed in one transaction, so a
 * crash at any point neither loses nor duplicates output.
 *
 * `process` may mutate the state it is given: the runtime hands it a private copy per
 * batch and keeps it only if the batch commits.
 */
export interface StatefulProcessor<S> {
  /** Consumer group, transactional id and changelog name. */
  readonly name: string;
  readonly inputs: readonly string[];
  readonly stateSchema: z.ZodType<S>;
  initialState(key: string): S;
  /**
   * At most this many keys keep a state; past it the least recently used is forgotten
   * (on Kafka with a changelog tombstone) and its next record starts from `initialState`.
   * Unset: every key is kept, for processors with a bounded key space (pairs, coins).
   */
  readonly maxKeys?: number;
  /**
   * At most this many records of one input partition per batch (one transaction); the rest
   * waits for the next fetch, which serves every assigned partition again, so the partitions
   * advance in step. For a processor that merges partitions into one output order (the
   * sentiment extractor: news partitions into each coin's signals), where one partition's
   * backlog handled whole would put days of output ahead of another partition's. Unset: as
   * much as one fetch returns.
   */
  readonly maxBatchRecords?: number;
  /**
   * Optional: sees a batch's records before they are applied, for work cheaper done for many at
   * once (the predictor runs each model once over a catch-up's minutes). It must neither change
   * a state nor decide an output (`process` still does, record by record), nor throw for a
   * record `process` would dead-letter.
   */
  prepare?(records: readonly InboundRecord[]): Promise<void>;
  /** May be async (e.g. model inference); records are still applied one at a time, in order. */
  process(state: S, record: InboundRecord): OutboundRecord[] | Promise<OutboundRecord[]>;
  /** Optional records derived from the states a batch changed (e.g. in-progress candles); not part of the exactly-once output. */
  afterBatch?(changed: ReadonlyMap<string, S>): OutboundRecord[];
}

export interface Bus {
  readonly kind: 'kafka' | 'memory';
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  publish(records: readonly OutboundRecord[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<RunningTask>;
  runStateful<S>(processor: StatefulProcessor<S>): Promise<RunningTask>;
  close(): Promise<void>;
}
