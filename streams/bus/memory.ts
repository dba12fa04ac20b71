/**
 * The in-process bus of the embedded default. Topics are arrays partitioned like
 * Kafka's (by key), consumer groups keep offsets in memory, and delivery is
 * asynchronous and batched, so processors see the same shapes and ordering
 * guarantees (per key) they get from Kafka. Nothing survives the process: that is
 * the embedded default's contract, and why processors need no changelog here.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { TopicSpec } from '../../schema/topics.ts';
import { applyBatch, commitStates, stateStore } from './batch.ts';
import type { Bus, ConsumeOptions, InboundRecord, OutboundRecord, RunningTask, StatefulProcessor } from './bus.ts';
import { encodeValue } from './codec.ts';
import { partitionFor } from './partitioner.ts';

const DEFAULT_PARTITIONS = 1;
const MAX_BATCH = 500;

class MemoryTopic {
  readonly partitions: InboundRecord[][];
  constructor(
    readonly name: string,
    partitionCount: number,
  ) {
    this.partitions = Array.from({ length: partitionCount }, () => []);
  }
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<string, MemoryTopic>();
  /** group -> topic -> next offset per partition */
  private readonly groupOffsets = new Map<string, Map<string, number[]>>();
  private readonly appended = new EventEmitter().setMaxListeners(0);
  private readonly tasks = new Set<RunningTask>();

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    for (const spec of topics) this.topic(spec.name, spec.partitions);
  }

  async publish(records: readonly OutboundRecord[]): Promise<void> {
    for (const record of records) {
      const topic = this.topic(record.topic);
      const partition = partitionFor(record.key, topic.partitions.length);
      const log = topic.partitions[partition]!;
      log.push({
        topic: record.topic,
        partition,
        offset: String(log.length),
        key: record.key,
        value: encodeValue(record.value),
      });
    }
    if (records.length > 0) this.appended.emit('append');
  }

  async consume(options: ConsumeOptions): Promise<RunningTask> {
    if (options.live) return this.loop(`${options.groupId}-${randomUUID()}`, options.topics, false, options.handler);
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
  }

  /** Number of records in a topic; used by tests and the embedded start-up report. */
  size(topic: string): number {
    return this.topics.get(topic)?.partitions.reduce((sum, p) => sum + p.length, 0) ?? 0;
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
      offsets = topic.partitions.map((log) => (fromBeginning ? 0 : log.length));
      byTopic.set(topic.name, offsets);
    }
    return offsets;
  }

  /** Delivers batches per partition to `handler` until stopped; offsets advance only after the handler resolves. */
  private loop(
    groupId: string,
    topicNames: readonly string[],
    fromBeginning: boolean,
    handler: (records: readonly InboundRecord[]) => Promise<void>,
    maxBatch = MAX_BATCH,
  ): RunningTask {
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
            if (from >= log.length) continue;
            const batch = log.slice(from, from + maxBatch);
            await handler(batch);
            offsets[partition] = from + batch.length;
            delivered = true;
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
