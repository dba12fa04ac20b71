/**
 * The Kafka bus (kafkajs). Producers are idempotent and keyed by pair; consumers
 * commit offsets only after their handler has finished with a batch.
 *
 * Stateful processors run exactly-once: each batch's outputs, the new state of every
 * key it touched (to a compacted changelog topic) and the input offsets go out in
 * one Kafka transaction. On start-up the state is rebuilt from the changelog, and the
 * consumer resumes from the offsets committed with that state, so `kill -9` at any
 * moment neither loses nor duplicates output. Downstream consumers read committed
 * records only (kafkajs' default isolation level), so aborted batches stay invisible.
 */
import { randomUUID } from 'node:crypto';
import {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type Consumer,
  type ConsumerConfig,
  type EachBatchPayload,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import { changelogTopic, type TopicSpec } from '../../schema/topics.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter, gauge, histogram } from '../../lib/metrics.ts';
import { dependencies, type DependencyHealth, type ProbeOptions } from '../../lib/dependencies.ts';
import {
  applyBatch,
  commitStates,
  taskStateStores,
  type AppliedBatch,
  type TaskStateStore,
  type TaskStateStores,
} from './batch.ts';
import type { Bus, ConsumeOptions, InboundRecord, OutboundRecord, RunningTask, StatefulProcessor } from './bus.ts';
import { encodeValue } from './codec.ts';
import { retryingRetriable } from './kafka-retry.ts';
import {
  copartitionedCount,
  fixedAssigner,
  isFenced,
  resumeOffset,
  taskAssigner,
  tasksOf,
  taskTransactionalId,
} from './tasks.ts';

export interface KafkaBusConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Prefixes consumer groups and transactional ids, so deployments (or test runs) sharing a broker do not meet. */
  readonly groupPrefix: string;
  /** Prefixes every physical topic name; processors keep using the logical names of schema/topics.ts. */
  readonly topicPrefix: string;
  /** The broker drops a consumer it has not heard from for this long (kafkajs `sessionTimeout`). */
  readonly sessionTimeoutMs: number;
  /** How often a consumer heartbeats, between batches and while one is processed. */
  readonly heartbeatIntervalMs: number;
  /** Fault injection (KAFKA_FAULT_HOLD_TRANSACTION_MS): the first transaction with outputs waits this long before it commits. */
  readonly holdFirstTransactionMs?: number;
}

const batchSeconds = histogram('tickcast_processor_batch_seconds', 'Time to process and commit one input batch', [
  'processor',
]);
const recordsPublished = counter('tickcast_bus_records_published_total', 'Records published to the bus', ['topic']);
const groupJoins = counter(
  'tickcast_bus_group_joins_total',
  'Times a consumer joined its group: one at start, one more per rebalance it went through',
  ['group'],
);
const restoredStates = counter(
  'tickcast_processor_restored_states_total',
  'State snapshots read back from a changelog when a task was opened',
  ['processor'],
);
const openTasks = gauge('tickcast_processor_tasks', 'Tasks (input partition numbers) this replica processes', [
  'processor',
]);
const tasksClosed = counter(
  'tickcast_processor_tasks_closed_total',
  'Tasks this replica gave up: revoked in a rebalance, fenced by a new owner it had not heard of, or after a transaction that failed',
  ['reason'],
);

/**
 * One partition number of a stateful processor's inputs, owned by one replica at a time:
 * its transactional producer, and the states of the keys (pairs) hashed to that partition.
 */
interface Task<S> {
  readonly partition: number;
  readonly producer: Producer;
  readonly states: TaskStateStore<S>;
  /** Keys forgotten for room (maxKeys) since the last commit: the next transaction writes their tombstones. */
  readonly evicted: Set<string>;
}

function totalKeys(tasks: ReadonlyMap<number, Task<unknown>>): number {
  let keys = 0;
  for (const task of tasks.values()) keys += task.states.size;
  return keys;
}

/** Marks the end of a changelog restore: everything committed before it is state to load. */
const RESTORE_MARKER_KEY = '__restore_marker__';

/**
 * kafkajs warnings that describe a choice made here on purpose:
 * - retries are bounded so an outage surfaces as an error instead of a hang; a failed
 *   transaction aborts (no duplicates), and a source that re-sends after a failed plain
 *   publish is deduplicated by trade id in the candles processor;
 * - the partitioner is chosen explicitly below.
 */
const EXPECTED_WARNINGS = ['Limiting retries for the idempotent producer', 'switched default partitioner'];

function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry): void => {
      const { message, ...extra } = log;
      const child = logger.child({ component: 'kafkajs', ...extra });
      if (EXPECTED_WARNINGS.some((w) => message.includes(w))) child.debug(message);
      // While the broker is known to be down, every retry of every client fails the same way:
      // the dependency check has said so once, so the retries' errors are debug noise.
      else if (dependencies.isDown('kafka') && level <= KafkaLogLevel.WARN) child.debug(message);
      else if (level === KafkaLogLevel.ERROR) child.error(message);
      else if (level === KafkaLogLevel.WARN) child.warn(message);
      else if (level === KafkaLogLevel.INFO) child.debug(message);
      else child.trace(message);
    };
}

function toInbound(
  topic: string,
  partition: number,
  message: EachBatchPayload['batch']['messages'][number],
): InboundRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString('utf8'),
    value: message.value,
  };
}

/**
 * Runs `work` (one batch) while keeping the consumer's group membership alive. kafkajs
 * heartbeats only when asked, and asks between batches; one sentiment batch can wait
 * minutes on an LLM, so without this the broker drops the member after the session
 * timeout and rebalances: another replica is handed the partition and redoes the batch,
 * and this one's rejoin costs a second rebalance. Heartbeating instead of bounding batch
 * sizes because no batch size bounds the time: one record can take an LLM timeout times
 * its retries. A timer covers long awaits inside one record; `beat` (between records) also surfaces a
 * heartbeat the timer saw fail, i.e. a rebalance under way: the batch then stops, its
 * transaction is never committed, and kafkajs rejoins instead of the batch finishing
 * work whose partition may already belong to another member. kafkajs' `heartbeat()`
 * only calls the broker once per heartbeat interval, yet each call is an async round of its
 * own: `beat` calls it at most every tenth of the interval (a heartbeat goes out at most that
 * late) and otherwise returns nothing to await, unless a heartbeat is in flight or has failed.
 */
async function keepingAlive<T>(
  heartbeat: () => Promise<void>,
  intervalMs: number,
  work: (beat: () => Promise<void> | undefined) => Promise<T>,
): Promise<T> {
  const failures: unknown[] = [];
  let inFlight: Promise<void> | undefined;
  let nextCallAt = 0;
  const beatNow = async (): Promise<void> => {
    if (failures.length === 0) {
      nextCallAt = performance.now() + intervalMs / 10;
      inFlight ??= heartbeat()
        .catch((error: unknown) => {
          failures.push(error);
        })
        .finally(() => {
          inFlight = undefined;
        });
      await inFlight;
    }
    if (failures.length > 0) throw failures[0];
  };
  const beat = (): Promise<void> | undefined =>
    failures.length === 0 && inFlight === undefined && performance.now() < nextCallAt ? undefined : beatNow();
  // A failure is kept for the next `beat`; nothing to do with it here.
  const timer = setInterval(() => beatNow().catch(() => undefined), intervalMs);
  try {
    return await work(beat);
  } finally {
    clearInterval(timer);
  }
}

type TopicMessages = { topic: string; messages: { key: string; value: Buffer | null; partition?: number }[] }[];

/**
 * Brokers refuse a record batch over `message.max.bytes` (1 MiB by default), and kafkajs
 * sends one batch per partition per request, so large publishes (a replayed day, the
 * flat candles after a long outage) go out in requests of at most this many bytes.
 */
const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * What a stateful processor fetches per partition at most (kafkajs' default is 1 MiB, about
 * 5,000 trades): every batch is one transaction, five broker round trips whatever its size,
 * and on a busy host those round trips, not the records, were most of a batch's time. A
 * fetch still holds at most kafkajs' `maxBytes` (10 MiB) over all partitions.
 */
const STATEFUL_FETCH_BYTES_PER_PARTITION = 4 * 1024 * 1024;

/**
 * Encodes records, grouped by physical topic, in requests that each stay under MAX_REQUEST_BYTES.
 * A record with a `partition` goes there (a task's changelog partition); the partitioner places
 * the others by key.
 */
function toRequests(
  records: readonly (OutboundRecord & { readonly partition?: number })[],
  physical: (topic: string) => string,
): TopicMessages[] {
  const requests: TopicMessages[] = [];
  let current = new Map<string, { key: string; value: Buffer; partition?: number }[]>();
  let bytes = 0;
  const flush = (): void => {
    if (current.size === 0) return;
    requests.push([...current].map(([topic, messages]) => ({ topic, messages })));
    current = new Map();
    bytes = 0;
  };
  for (const record of records) {
    const value = encodeValue(record.value);
    const size = value.length + record.key.length + 64;
    if (bytes + size > MAX_REQUEST_BYTES) flush();
    const topic = physical(record.topic);
    let messages = current.get(topic);
    if (!messages) {
      messages = [];
      current.set(topic, messages);
    }
    messages.push(
      record.partition === undefined
        ? { key: record.key, value }
        : { key: record.key, value, partition: record.partition },
    );
    bytes += size;
  }
  flush();
  return requests;
}

/** Tombstones (null values) for `keys` of one partition of a physical topic, in requests under MAX_REQUEST_BYTES. */
function tombstoneRequests(topic: string, keys: readonly string[], partition: number): TopicMessages[] {
  const requests: TopicMessages[] = [];
  let messages: { key: string; value: null; partition: number }[] = [];
  let bytes = 0;
  for (const key of keys) {
    const size = key.length + 64;
    if (bytes + size > MAX_REQUEST_BYTES && messages.length > 0) {
      requests.push([{ topic, messages }]);
      messages = [];
      bytes = 0;
    }
    messages.push({ key, value: null, partition });
    bytes += size;
  }
  if (messages.length > 0) requests.push([{ topic, messages }]);
  return requests;
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private readonly tasks = new Set<RunningTask>();
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly config: KafkaBusConfig,
    private readonly logger: Logger,
  ) {
    this.kafka = new Kafka({
      clientId: config.clientId,
      brokers: [...config.brokers],
      logLevel: KafkaLogLevel.INFO,
      logCreator: kafkaLogCreator(logger),
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    await this.withAdmin(async (admin) => {
      const existing = new Set(await listTopicsSettled(admin));
      const missing = topics.filter((t) => !existing.has(this.physical(t.name)));
      if (missing.length === 0) return;
      const names = missing.map((t) => this.physical(t.name));
      try {
        await admin.createTopics({
          waitForLeaders: true,
          // The broker's own deadline for creating them (kafkajs's default is 5 s, which a
          // busy broker that has just restarted can miss while still creating the topics).
          timeout: 30_000,
          topics: missing.map((t) => ({
            topic: this.physical(t.name),
            numPartitions: t.partitions,
            replicationFactor: -1,
            configEntries: [
              { name: 'cleanup.policy', value: t.compacted ? 'compact' : 'delete' },
              { name: 'retention.ms', value: String(t.retentionMs) },
            ],
          })),
        });
      } catch (error) {
        // kafkajs gives up on these, yet the broker may well have created the topics: check
        // their leaders for ourselves before calling it a failure.
        if (!creationInDoubt(error)) throw error;
        this.logger.warn({ err: error, topics: names }, 'topic creation unconfirmed; waiting for their leaders');
        await waitForLeaders(admin, names);
      }
      this.logger.info({ topics: missing.map((t) => this.physical(t.name)) }, 'created topics');
    });
  }

  async publish(records: readonly OutboundRecord[]): Promise<void> {
    if (records.length === 0) return;
    const producer = await this.sharedProducer();
    for (const topicMessages of toRequests(records, this.physical))
      await producer.sendBatch({ acks: -1, topicMessages });
    countPublished(records);
  }

  async consume(options: ConsumeOptions): Promise<RunningTask> {
    const live = options.live === true;
    const groupId = this.group(live ? `${options.groupId}-${randomUUID()}` : options.groupId);
    const consumer = this.consumer({ groupId, allowAutoTopicCreation: false }, options.groupId);
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    // A live feed starts where the topics end now, not wherever "latest" is when the first
    // fetch happens to resolve it (records published in between would be skipped).
    const ends = live ? await this.endOffsets(options.topics.map(this.physical)) : [];
    await consumer.connect();
    await consumer.subscribe({
      topics: options.topics.map(this.physical),
      fromBeginning: !live && options.fromBeginning,
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        await keepingAlive(heartbeat, this.config.heartbeatIntervalMs, () =>
          options.handler(batch.messages.map((m) => toInbound(this.logical(batch.topic), batch.partition, m))),
        );
        const last = batch.lastOffset();
        resolveOffset(last);
        if (!live)
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next(last) }]);
        await heartbeat();
      },
    });
    for (const end of ends) consumer.seek(end);
    if (live) await joined;
    return this.track(consumer, () => Promise.resolve());
  }

  async runStateful<S>(processor: StatefulProcessor<S>): Promise<RunningTask> {
    const log = this.logger.child({ processor: processor.name });
    const inputs = processor.inputs.map(this.physical);
    const partitions = copartitionedCount(await this.partitionCounts(inputs));
    // Partitioned like the inputs: task p's state lives in changelog partition p, so the
    // replica that takes a task reads that partition alone.
    const changelog = { ...changelogTopic(processor.name), partitions };
    await this.ensureTopics([changelog]);
    const changelogCount = (await this.partitionCounts([this.physical(changelog.name)]))[this.physical(changelog.name)];
    if (changelogCount !== partitions) {
      throw new Error(
        `${this.physical(changelog.name)} has ${changelogCount} partitions, the inputs ${partitions}: ` +
          'each task restores its state from the changelog partition of its number (docs/deploy.md: upgrading the stateful processors from one replica)',
      );
    }
    const groupId = this.group(processor.name);
    const tasks = new Map<number, Task<S>>();
    const stores = taskStateStores(processor);
    // Tasks this member was given when it last joined the group: the ones to open on demand.
    let assigned = new Set<number>();
    let holdTransactionMs = this.config.holdFirstTransactionMs ?? 0;

    const consumer = this.consumer(
      {
        groupId,
        allowAutoTopicCreation: false,
        readUncommitted: false,
        maxBytesPerPartition: STATEFUL_FETCH_BYTES_PER_PARTITION,
        partitionAssigners: [taskAssigner(partitions)],
      },
      processor.name,
    );
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      assigned = tasksOf(payload.memberAssignment);
      // A task that went to another member: its state goes, and its producer, which the new
      // owner fences anyway. One kept across the rebalance keeps both: if another member took it
      // in between, that member's producer fenced this one and the next commit says so.
      for (const [partition, task] of tasks) {
        if (assigned.has(partition)) continue;
        tasks.delete(partition);
        void this.closeTask(task, log, 'revoked');
      }
      openTasks.set({ processor: processor.name }, tasks.size);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: inputs, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const task = tasks.get(batch.partition);
        if (!task) {
          // Fails while a rebalance is under way: the task may already be another member's,
          // and opening it would fence that owner.
          await heartbeat();
          const opening = [...new Set([...assigned, batch.partition])]
            .filter((p) => !tasks.has(p))
            .sort((a, b) => a - b);
          const opened = await keepingAlive(heartbeat, this.config.heartbeatIntervalMs, () =>
            this.openTasks(processor, {
              inputs,
              changelog: changelog.name,
              groupId,
              opening,
              consumer,
              stores,
              log,
            }),
          );
          for (const task of opened) {
            // A rebalance while they opened may have given some to another member already.
            if (assigned.has(task.partition)) tasks.set(task.partition, task);
            else void this.closeTask(task, log, 'revoked');
          }
          openTasks.set({ processor: processor.name }, tasks.size);
          // The batch in hand was fetched from offsets read before the fencing; the seeks
          // made by openTasks refetch from the offsets committed with the restored state.
          return;
        }
        const timer = batchSeconds.startTimer({ processor: processor.name });
        const fetched = batch.messages.map((m) => toInbound(this.logical(batch.topic), batch.partition, m));
        const records = fetched.slice(0, processor.maxBatchRecords ?? fetched.length);
        // The rest of a cut batch is fetched again from after the last applied record.
        const last = records.length < fetched.length ? records[records.length - 1]!.offset : batch.lastOffset();
        const tombstones = [...task.evicted];
        let applied: AppliedBatch<S>;
        // Set once the transaction begins: a failure from there on leaves the task in doubt.
        let transacting = false;
        try {
          applied = await keepingAlive(heartbeat, this.config.heartbeatIntervalMs, async (beat) => {
            const result = await applyBatch(processor, task.states, records, beat);
            // In the task's changelog partition, whatever partition the key would hash to there.
            const snapshots = [...result.changed].map(([key, state]) => ({
              topic: changelog.name,
              key,
              value: state,
              partition: task.partition,
            }));
            transacting = true;
            const transaction = await task.producer.transaction();
            try {
              // Before the snapshots: a key evicted and then seen again in this batch keeps its new state.
              for (const topicMessages of tombstoneRequests(
                this.physical(changelog.name),
                tombstones,
                task.partition,
              )) {
                await transaction.sendBatch({ acks: -1, topicMessages });
              }
              for (const topicMessages of toRequests([...result.outputs, ...snapshots], this.physical)) {
                await transaction.sendBatch({ acks: -1, topicMessages });
              }
              if (holdTransactionMs > 0 && result.outputs.length > 0) {
                log.warn(
                  { task: task.partition, ms: holdTransactionMs },
                  'fault injection: holding a transaction open',
                );
                await new Promise((resolve) => setTimeout(resolve, holdTransactionMs));
                holdTransactionMs = 0;
              }
              await transaction.sendOffsets({
                consumerGroupId: groupId,
                topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next(last) }] }],
              });
              await transaction.commit();
            } catch (error) {
              if (transaction.isActive()) await transaction.abort().catch(() => undefined);
              throw error;
            }
            return result;
          });
        } catch (error) {
          // Before the transaction (applying the batch, e.g. a database outage) the states were
          // not replaced and still match the committed offsets: the batch is retried from them.
          if (!transacting) throw error;
          // Within it, the producer may have been fenced (another member took the task: this
          // one missed a rebalance, e.g. a long pause; whatever error kafkajs reports) or the
          // commit may have happened or not. The states here are no longer known to match the
          // committed offsets: drop the task; the next batch of its partition opens it again,
          // fencing and restoring from what was committed.
          const fenced = isFenced(error);
          tasks.delete(task.partition);
          openTasks.set({ processor: processor.name }, tasks.size);
          await this.closeTask(task, log, fenced ? 'fenced' : 'transaction-failed');
          if (fenced) return;
          throw error;
        }
        const { outputs, changed } = applied;
        for (const key of tombstones) task.evicted.delete(key);
        commitStates(processor.name, task.states, changed, () => totalKeys(tasks));
        // The batch's new states may have pushed keys out, of this task or another (maxKeys
        // bounds the replica): their tombstones go now, in their tasks' own transactions, not
        // with those tasks' next batches, so the changelogs hold no more than the replica keeps
        // and a restore (whose order across partitions is not recency) brings back none of them.
        for (const other of [...tasks.values()]) {
          if (other.evicted.size === 0) continue;
          await this.writeTombstones(other, this.physical(changelog.name)).catch(async (error: unknown) => {
            tasks.delete(other.partition);
            openTasks.set({ processor: processor.name }, tasks.size);
            await this.closeTask(other, log, isFenced(error) ? 'fenced' : 'transaction-failed');
          });
        }
        countPublished(outputs);
        resolveOffset(last);
        timer();
        const derived = processor.afterBatch?.(changed) ?? [];
        if (derived.length > 0) await this.publish(derived);
        await heartbeat();
      },
    });
    return this.track(consumer, async () => {
      const closing = [...tasks.values()];
      tasks.clear();
      await Promise.all(closing.map((task) => task.producer.disconnect()));
    });
  }

  /**
   * Reports the cluster's reachability to `health` every `options.intervalMs` until close():
   * one metadata round trip from a client of its own that does not retry, so an outage shows
   * within one interval instead of after the processors' retries run out.
   */
  watchHealth(health: DependencyHealth, options: ProbeOptions & { timeoutMs: number }): void {
    const probe = new Kafka({
      clientId: `${this.config.clientId}-health`,
      brokers: [...this.config.brokers],
      logLevel: KafkaLogLevel.NOTHING,
      connectionTimeout: options.timeoutMs,
      requestTimeout: options.timeoutMs,
      retry: { retries: 0 },
    });
    this.unwatch?.();
    this.unwatch = health.watch(
      'kafka',
      async () => {
        const admin = probe.admin({ retry: { retries: 0 } });
        try {
          await admin.connect();
          await admin.describeCluster();
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      options,
    );
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await Promise.all([...this.tasks].map((task) => task.stop()));
    await this.producer?.disconnect();
    this.producer = undefined;
  }

  /**
   * Opens `opening` tasks: initialises each one's transactional producer (which fences the
   * task's previous owner and aborts or waits out its open transaction, so nobody else commits
   * the task's state or offsets from here on), restores their states, then points the consumer
   * at the offsets committed with those states. Returns the opened tasks.
   */
  private async openTasks<S>(
    processor: StatefulProcessor<S>,
    ctx: {
      inputs: readonly string[];
      changelog: string;
      groupId: string;
      opening: readonly number[];
      consumer: Consumer;
      stores: TaskStateStores<S>;
      log: Logger;
    },
  ): Promise<Task<S>[]> {
    const opened = ctx.opening.map((partition): Task<S> => {
      const evicted = new Set<string>();
      return {
        partition,
        producer: this.transactionalProducer(taskTransactionalId(this.config.groupPrefix, processor.name, partition)),
        evicted,
        states: ctx.stores.forTask(partition, (key) => evicted.add(key)),
      };
    });
    try {
      await Promise.all(opened.map((task) => task.producer.connect()));
      await this.restore(processor, this.physical(ctx.changelog), opened);
      const starts = await this.startOffsets(ctx.groupId, ctx.inputs, ctx.opening);
      for (const start of starts) ctx.consumer.seek(start);
    } catch (error) {
      for (const task of opened) task.states.clear();
      await Promise.all(opened.map((task) => task.producer.disconnect().catch(() => undefined)));
      throw error;
    }
    ctx.log.info(
      { tasks: ctx.opening, keys: opened.reduce((n, task) => n + task.states.size, 0) },
      'tasks opened, state restored from changelog',
    );
    return opened;
  }

  /** Commits `task`'s pending tombstones in a transaction of its own producer. */
  private async writeTombstones(task: Task<unknown>, changelog: string): Promise<void> {
    const keys = [...task.evicted];
    const transaction = await task.producer.transaction();
    try {
      for (const topicMessages of tombstoneRequests(changelog, keys, task.partition)) {
        await transaction.sendBatch({ acks: -1, topicMessages });
      }
      await transaction.commit();
    } catch (error) {
      if (transaction.isActive()) await transaction.abort().catch(() => undefined);
      throw error;
    }
    for (const key of keys) task.evicted.delete(key);
  }

  private async closeTask(
    task: Task<unknown>,
    log: Logger,
    reason: 'revoked' | 'fenced' | 'transaction-failed',
  ): Promise<void> {
    // At once, before any await: the task may be opened again right after (its states are the replica's to bound).
    task.states.clear();
    tasksClosed.inc({ reason });
    // A revoked task is routine; a fenced one means this replica was a zombie for a while.
    if (reason === 'revoked') log.info({ task: task.partition, reason }, 'task closed, its state dropped');
    else log.warn({ task: task.partition, reason }, 'task closed, its state dropped');
    await task.producer.disconnect().catch((error: unknown) => log.warn({ err: error }, 'closing a task producer'));
  }

  /**
   * Where each input partition of `tasks` resumes: the offset committed with the restored
   * state, or the beginning when the group never committed one (inputs are read from the start).
   * Read after the fencing: a previous owner's last commit may have landed after the consumer
   * fetched its offsets at the rejoin.
   */
  private async startOffsets(
    groupId: string,
    topics: readonly string[],
    tasks: readonly number[],
  ): Promise<{ topic: string; partition: number; offset: string }[]> {
    // A fresh admin per attempt: a partition's leader may have just moved (see retryingRetriable).
    return retryingRetriable(() =>
      this.withAdmin(async (admin) => {
        const perTopic = await Promise.all(
          topics.map(async (topic) => {
            const [committed, bounds] = await Promise.all([
              admin.fetchOffsets({ groupId, topics: [topic] }),
              admin.fetchTopicOffsets(topic),
            ]);
            const offsets = committed[0]?.partitions ?? [];
            return tasks.map((partition) => {
              const committedOffset = offsets.find((o) => o.partition === partition)?.offset;
              const low = bounds.find((b) => b.partition === partition)?.low ?? '0';
              return { topic, partition, offset: resumeOffset(committedOffset, low) };
            });
          }),
        );
        return perTopic.flat();
      }),
    );
  }

  /**
   * Loads the latest committed state per key of `tasks` from their changelog partitions.
   * Reading "to the end" of a transactional topic is unreliable (the last offsets are commit
   * markers a consumer never sees), so each task appends its own marker, with its own
   * producer in a committed transaction, and its partition is read until that marker appears.
   */
  private async restore<S>(processor: StatefulProcessor<S>, topic: string, tasks: readonly Task<S>[]): Promise<void> {
    const pending = new Map<number, { task: Task<S>; marker: string }>();
    // Each task's partition read whole before any of it goes into the bounded store: read
    // side by side, partitions replay sets and their later tombstones interleaved, and a
    // bounded store would forget live keys to make room for ones a tombstone ends further on.
    const loaded = new Map<number, Map<string, S>>(tasks.map((task) => [task.partition, new Map()]));
    await Promise.all(
      tasks.map(async (task) => {
        const marker = randomUUID();
        const transaction = await task.producer.transaction();
        try {
          await transaction.send({
            topic,
            acks: -1,
            messages: [{ key: RESTORE_MARKER_KEY, value: encodeValue({ marker }), partition: task.partition }],
          });
          await transaction.commit();
        } catch (error) {
          if (transaction.isActive()) await transaction.abort().catch(() => undefined);
          throw error;
        }
        pending.set(task.partition, { task, marker });
      }),
    );

    const groupId = this.group(`${processor.name}-restore-${randomUUID()}`);
    const reader = this.kafka.consumer({
      groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      partitionAssigners: [fixedAssigner(topic, [...pending.keys()])],
    });
    await reader.connect();
    try {
      await reader.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        reader
          .run({
            eachMessage: async ({ partition, message }) => {
              const restoring = pending.get(partition);
              // Past its marker a partition holds nothing of the state being restored.
              if (!restoring) return;
              const states = loaded.get(partition)!;
              const key = message.key?.toString('utf8') ?? '';
              if (message.value === null) {
                states.delete(key);
                return;
              }
              const value: unknown = JSON.parse(message.value.toString('utf8'));
              if (key === RESTORE_MARKER_KEY) {
                if ((value as { marker?: string }).marker !== restoring.marker) return;
                pending.delete(partition);
                if (pending.size === 0) resolve();
                return;
              }
              states.set(key, processor.stateSchema.parse(value));
              restoredStates.inc({ processor: processor.name });
            },
          })
          .catch(reject);
      });
    } finally {
      await reader.disconnect();
      await this.withAdmin((admin) => admin.deleteGroups([groupId])).catch(() => undefined);
    }
    for (const task of tasks) for (const [key, state] of loaded.get(task.partition)!) task.states.set(key, state);
  }

  /** A producer whose every send is part of a transaction under `transactionalId`; connecting it fences that id's previous holder. */
  private transactionalProducer(transactionalId: string): Producer {
    return this.kafka.producer({
      transactionalId,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Between back-to-back transactions the coordinator briefly answers
      // CONCURRENT_TRANSACTIONS; kafkajs' default 300 ms first retry would cap a
      // processor at about three batches a second.
      retry: { retries: 8, initialRetryTime: 30, maxRetryTime: 2_000 },
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  /** Partition count of each of `topics` (physical names). */
  private async partitionCounts(topics: readonly string[]): Promise<Record<string, number>> {
    // Replicas started together race to create the topics: the one whose creation found them
    // already there may ask before their metadata has reached it (UNKNOWN_TOPIC_OR_PARTITION).
    return retryingRetriable(() =>
      this.withAdmin(async (admin) => {
        const { topics: found } = await admin.fetchTopicMetadata({ topics: [...topics] });
        return Object.fromEntries(found.map((t) => [t.name, t.partitions.length]));
      }),
    );
  }

  /** A group consumer with the configured liveness bounds; `group` (the logical name) labels its metrics. */
  private consumer(config: Omit<ConsumerConfig, 'sessionTimeout' | 'heartbeatInterval'>, group: string): Consumer {
    const consumer = this.kafka.consumer({
      ...config,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: this.config.heartbeatIntervalMs,
    });
    consumer.on(consumer.events.GROUP_JOIN, () => groupJoins.inc({ group }));
    return consumer;
  }

  private readonly physical = (topic: string): string => `${this.config.topicPrefix}${topic}`;

  private readonly logical = (topic: string): string =>
    topic.startsWith(this.config.topicPrefix) ? topic.slice(this.config.topicPrefix.length) : topic;

  private group(name: string): string {
    return `${this.config.groupPrefix}${name}`;
  }

  private async sharedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  /** The next offset of every partition of `topics` (physical names). */
  private async endOffsets(topics: readonly string[]): Promise<{ topic: string; partition: number; offset: string }[]> {
    // A new admin per attempt: its metadata is fresh, so it asks the partition's new leader.
    return retryingRetriable(() =>
      this.withAdmin(async (admin) => {
        const ends = await Promise.all(
          topics.map(async (topic) =>
            (await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => ({ topic, partition, offset: high })),
          ),
        );
        return ends.flat();
      }),
    );
  }

  private async withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  }

  /** `release` frees what the task holds besides its consumer (producers), after the consumer left. */
  private track(consumer: Consumer, release: () => Promise<void>): RunningTask {
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const done = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) settle.reject(event.payload.error);
    });
    let stopped = false;
    const task: RunningTask = {
      done,
      stop: async () => {
        if (stopped) return done;
        stopped = true;
        await consumer.disconnect();
        await release();
        this.tasks.delete(task);
        settle.resolve();
        return done;
      },
    };
    this.tasks.add(task);
    return task;
  }
}

function next(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

function countPublished(records: readonly OutboundRecord[]): void {
  for (const record of records) recordsPublished.inc({ topic: record.topic });
}

/**
 * All topic names. Listing fails with UNKNOWN_TOPIC_OR_PARTITION while some client deletes a
 * topic (its metadata is half gone); that settles within moments, so retry briefly.
 */
async function listTopicsSettled(admin: Admin): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.listTopics();
    } catch (error) {
      if (attempt >= 10 || (error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** Error types a CreateTopics answer may carry for a topic the broker is still creating. */
const IN_DOUBT_TYPES: ReadonlySet<string> = new Set([
  // A KRaft broker can answer kafkajs's leader check before the new topics' metadata has
  // propagated.
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  // The broker's deadline passed; the creation goes on.
  'REQUEST_TIMED_OUT',
  // An earlier attempt of the same request created it.
  'TOPIC_ALREADY_EXISTS',
]);

/**
 * Whether a failed `createTopics` may still have created the topics: kafkajs bails on anything
 * but NOT_CONTROLLER, including its own "Timed out while waiting for topic leaders" and a
 * per-topic REQUEST_TIMED_OUT. A refusal (invalid config, policy, authorization) is not in doubt.
 */
export function creationInDoubt(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, type, errors } = error as { name?: unknown; type?: unknown; errors?: unknown };
  if (name === 'KafkaJSTimeout') return true;
  if (typeof type === 'string') return IN_DOUBT_TYPES.has(type);
  // KafkaJSAggregateError: one error per topic.
  return Array.isArray(errors) && errors.length > 0 && errors.every((e) => creationInDoubt(e));
}

/** Polls topic metadata until every partition of `topics` has a leader (at most 30 s). */
async function waitForLeaders(admin: Admin, topics: readonly string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: [...topics] });
      if (found.length === topics.length && found.every((t) => t.partitions.every((p) => p.leader >= 0))) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`no leaders for ${topics.join(', ')} after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
