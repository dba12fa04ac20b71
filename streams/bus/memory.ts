/**
 * The in-process bus of the embedded default. Topics are arrays partitioned like
 * Kafka's (by key), consumer groups keep offsets in memory, and delivery is
 * asynchronous and batched, so processors see the same shapes and ordering
 * guarantees (per key) they get from Kafka. Nothing survives the process: that is
 * the embedded default's contract, and why processors need no changelog here.
 * With `dropConsumed` (the embedded runtime) a record every running consumer of its topic
 * has handled is let go, as Kafka's retention would eventually: a long replay held every
 * event it ever published (68,000 records an hour of BTC/USD at 10x, found by the soak
 * benchmark). Without it (tests that read a topic again later) every record is kept.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Gauge } from 'prom-client';
import { registry } from '../../lib/metrics.ts';
import type { TopicSpec } from '../../schema/topics.ts';
import { applyBatch, commitStates, stateStore } from './batch.ts';
import type { Bus, ConsumeOptions, InboundRecord, OutboundRecord, RunningTask, StatefulProcessor } from './bus.ts';
import { encodeValue } from './codec.ts';
import { partitionFor } from './partitioner.ts';

const DEFAULT_PARTITIONS = 1;
const MAX_BATCH = 500;

/** This process's open in-process buses, read when metrics are scraped (Kafka reports its own consumer lag). */
const openBuses = new Set<MemoryBus>();
const PENDING_METRIC = 'tickcast_bus_memory_pending_records';
const RETAINED_METRIC = 'tickcast_bus_memory_records';
if (!registry.getSingleMetric(PENDING_METRIC)) {
  new Gauge({
    name: PENDING_METRIC,
    help: 'In-process bus: records on the topics a consumer group follows that it has not handled yet (its lag)',
    labelNames: ['group'],
    registers: [registry],
    collect() {
      this.reset();
      for (const bus of openBuses) for (const [group, pending] of bus.pending()) this.inc({ group }, pending);
    },
  });
  new Gauge({
    name: RETAINED_METRIC,
    help: 'In-process bus: records held in memory over all topics',
    registers: [registry],
    collect() {
      let records = 0;
      for (const bus of openBuses) records += bus.retained();
      this.set(records);
    },
  });
}

/** A running consumer, for its lag: the group it reports as and where its offsets are kept. */
interface Consumer {
  readonly group: string;
  readonly offsetsKey: string;
  readonly topics: readonly string[];
}

/** A partition's records from offset `base` on (the ones before it were dropped once consumed). */
interface Partition {
  base: number;
  records: InboundRecord[];
}
const endOf = (log: Partition) => log.base + log.records.length;

/** Consumed records are dropped in chunks of at least this many: each drop shifts the array. */
const DROP_CHUNK = 1_000;

class MemoryTopic {
  readonly partitions: Partition[];
  constructor(
    readonly name: string,
    partitionCount: number,
  ) {
    this.partitions = Array.from({ length: partitionCount }, () => ({ base: 0, records: [] }));
  }
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<string, MemoryTopic>();
  /** group -> topic -> next offset per partition */
  private readonly groupOffsets = new Map<string, Map<string, number[]>>();
  private readonly appended = new EventEmitter().setMaxListeners(0);
  private readonly tasks = new Set<RunningTask>();
  private readonly consumers = new Set<Consumer>();
  private readonly dropConsumed: boolean;

  constructor(options: { dropConsumed?: boolean } = {}) {
    this.dropConsumed = options.dropConsumed ?? false;
    openBuses.add(this);
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    for (const spec of topics) this.topic(spec.name, spec.partitions);
  }

  async publish(records: readonly OutboundRecord[]): Promise<void> {
    for (const record of records) {
      const topic = this.topic(record.topic);
      const partition = partitionFor(record.key, topic.partitions.length);
      const log = topic.partitions[partition]!;
      log.records.push({
        topic: record.topic,
        partition,
        offset: String(endOf(log)),
        key: record.key,
        value: encodeValue(record.value),
      });
    }
    if (records.length > 0) this.appended.emit('append');
  }

  async consume(options: ConsumeOptions): Promise<RunningTask> {
    if (options.live)
      return this.loop(
        `${options.groupId}-${randomUUID()}`,
        options.topics,
        false,
        options.handler,
        MAX_BATCH,
        options.groupId,
      );
    return this.loop(options.groupId, options.topics, options.fromBeginning, options.handler);
  }

  async runStateful<S>(processor: StatefulProcessor<S>): Promise<RunningTask> {
    const states = stateStore(processor);
    return this.loop(
      processor.name,
      processor.inputs,
      true,
      async (records) => {
        const { outputs, changed } = await applyBatch(processor, states, records);
        const derived = processor.afterBatch?.(changed) ?? [];
        await this.publish([...outputs, ...derived]);
        commitStates(processor.name, states, changed);
      },
      processor.maxBatchRecords,
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.tasks].map((task) => task.stop()));
    openBuses.delete(this);
  }

  /** Records not yet handled, per consumer group (live consumers under the group they were started with). */
  pending(): Map<string, number> {
    const pending = new Map<string, number>();
    for (const consumer of this.consumers) {
      let records = 0;
      const byTopic = this.groupOffsets.get(consumer.offsetsKey);
      for (const name of consumer.topics) {
        const topic = this.topics.get(name);
        const offsets = byTopic?.get(name);
        topic?.partitions.forEach((log, partition) => (records += endOf(log) - (offsets?.[partition] ?? log.base)));
      }
      pending.set(consumer.group, (pending.get(consumer.group) ?? 0) + records);
    }
    return pending;
  }

  /** Records held in memory over all topics. */
  retained(): number {
    let records = 0;
    for (const topic of this.topics.values()) for (const log of topic.partitions) records += log.records.length;
    return records;
  }

  /** Number of records ever published to a topic (dropped ones included); used by tests and the embedded start-up report. */
  size(topic: string): number {
    return this.topics.get(topic)?.partitions.reduce((sum, p) => sum + endOf(p), 0) ?? 0;
  }

  private topic(name: string, partitions = DEFAULT_PARTITIONS): MemoryTopic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = new MemoryTopic(name, partitions);
      this.topics.set(name, topic);
    }
    return topic;
  }

  private offsetsFor(groupId: string, topic: MemoryTopic, fromBeginning: boolean): number[] {
    let byTopic = this.groupOffsets.get(groupId);
    if (!byTopic) {
      byTopic = new Map();
      this.groupOffsets.set(groupId, byTopic);
    }
    let offsets = byTopic.get(topic.name);
    if (!offsets) {
      offsets = topic.partitions.map((log) => (fromBeginning ? log.base : endOf(log)));
      byTopic.set(topic.name, offsets);
    }
    return offsets;
  }

  /** Lets go of a partition's records every running consumer of the topic has handled. */
  private dropHandled(topic: MemoryTopic, partition: number): void {
    const log = topic.partitions[partition]!;
    let handled = endOf(log);
    for (const consumer of this.consumers) {
      if (!consumer.topics.includes(topic.name)) continue;
      const offset = this.groupOffsets.get(consumer.offsetsKey)?.get(topic.name)?.[partition];
      if (offset === undefined) return; // a consumer that has not started reading: keep everything for it
      handled = Math.min(handled, offset);
    }
    const drop = handled - log.base;
    if (drop < DROP_CHUNK) return;
    log.records.splice(0, drop);
    log.base = handled;
  }

  /** Delivers batches per partition to `handler` until stopped; offsets advance only after the handler resolves. */
  private loop(
    groupId: string,
    topicNames: readonly string[],
    fromBeginning: boolean,
    handler: (records: readonly InboundRecord[]) => Promise<void>,
    maxBatch = MAX_BATCH,
    group = groupId,
  ): RunningTask {
    const consumer: Consumer = { group, offsetsKey: groupId, topics: topicNames };
    this.consumers.add(consumer);
    let stopping = false;
    let wake: (() => void) | undefined;
    const onAppend = (): void => wake?.();
    this.appended.on('append', onAppend);

    const run = async (): Promise<void> => {
      while (!stopping) {
        let delivered = false;
        for (const name of topicNames) {
          const topic = this.topic(name);
          const offsets = this.offsetsFor(groupId, topic, fromBeginning);
          for (const [partition, log] of topic.partitions.entries()) {
            const from = offsets[partition] ?? 0;
            if (from >= endOf(log)) continue;
            const batch = log.records.slice(from - log.base, from - log.base + maxBatch);
            await handler(batch);
            offsets[partition] = from + batch.length;
            delivered = true;
            if (this.dropConsumed) this.dropHandled(topic, partition);
          }
        }
        if (!delivered && !stopping) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      }
    };

    const done = run().finally(() => {
      this.appended.off('append', onAppend);
      this.consumers.delete(consumer);
      // A live consumer's group is its own (a fresh id each time): nothing will read its offsets again.
      if (group !== groupId) this.groupOffsets.delete(groupId);
    });
    const task: RunningTask = {
      done,
      stop: async () => {
        stopping = true;
        wake?.();
        await done.catch(() => undefined);
        this.tasks.delete(task);
      },
    };
    this.tasks.add(task);
    return task;
  }
}
