/**
 * The consumer groups a stream processor's process commits offsets in, with the topics of
 * each, as its code declares them: the processor is started (streams/runtime.ts, with the
 * configuration its Deployment gives it) on a bus that only records what it is asked to
 * consume. The ScaledObjects of k8s/ must watch exactly these groups: lag in a group they
 * miss is lag nothing scales on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import type { Bus, ConsumeOptions, RunningTask, StatefulProcessor } from '../streams/bus/bus.ts';
import { startPredictionsWriter } from '../streams/predictions-store/writer.ts';
import type { PredictionStore } from '../streams/predictions-store/store.ts';
import { predictionStoresOf, startProcessor, type ProcessorName } from '../streams/runtime.ts';
import type { Database } from '../streams/store/database.ts';

export interface ConsumerGroup {
  /** As Kafka knows it: TICKCAST_GROUP_PREFIX included. */
  readonly group: string;
  /** As Kafka knows them: KAFKA_TOPIC_PREFIX included. */
  readonly topics: readonly string[];
  /** Run by runStateful: one task per input partition number, the inputs co-partitioned. */
  readonly stateful: boolean;
}

const idle: RunningTask = { stop: () => Promise.resolve(), done: Promise.resolve() };

/** Records the groups asked for; never connects, never delivers a record. */
class RecordingBus implements Bus {
  readonly kind = 'memory' as const;
  readonly groups: { group: string; topics: readonly string[]; stateful: boolean }[] = [];
  ensureTopics(): Promise<void> {
    return Promise.resolve();
  }
  publish(): Promise<void> {
    return Promise.resolve();
  }
  consume(options: ConsumeOptions): Promise<RunningTask> {
    // A live feed's group is the process's own (a random suffix): nothing to scale on.
    if (options.live !== true) this.groups.push({ group: options.groupId, topics: options.topics, stateful: false });
    return Promise.resolve(idle);
  }
  runStateful<S>(processor: StatefulProcessor<S>): Promise<RunningTask> {
    this.groups.push({ group: processor.name, topics: processor.inputs, stateful: true });
    return Promise.resolve(idle);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A store that is always there and empty: the writers only need it to start. */
const presentStore: PredictionStore = {
  ensureSchema: () => Promise.resolve(),
  writePredictions: () => Promise.resolve(),
  recordOutcomes: () => Promise.resolve(),
  writePerformance: () => Promise.resolve(),
  pendingDue: () => Promise.resolve([]),
  close: () => Promise.resolve(),
};

/**
 * The consumer groups of `tickcast stream <processor>` run with `env` (a Deployment's
 * environment). The model registry is a local empty one (the predictor and the monitor
 * would otherwise wait for MLflow); nothing else is reached.
 */
export async function consumerGroupsOf(
  processor: ProcessorName,
  env: Record<string, string>,
): Promise<ConsumerGroup[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tickcast-groups-'));
  try {
    const config = loadConfig({ ...env, MLFLOW_TRACKING_URI: '', TICKCAST_DATA_DIR: dataDir });
    const logger = createLogger('silent');
    const bus = new RecordingBus();
    // Never queried: the recording bus delivers no record.
    const database: Database | undefined = config.DATABASE_URL
      ? { pool: {} as pg.Pool, kind: 'postgres', url: config.DATABASE_URL, close: () => Promise.resolve() }
      : undefined;
    if (processor === 'predictions-writer') {
      // One writer per store (runtime.ts); each would check its store's schema before it
      // consumes, so each runs here against a store that is always there.
      for (const { groupId, store } of predictionStoresOf(config, database, logger)) {
        await store.close();
        await (await startPredictionsWriter(bus, presentStore, logger, { groupId })).stop();
      }
    } else {
      await (await startProcessor(processor, { config, logger, bus, database })).stop();
    }
    return bus.groups.map(({ group, topics, stateful }) => ({
      group: `${config.TICKCAST_GROUP_PREFIX}${group}`,
      topics: topics.map((topic) => `${config.KAFKA_TOPIC_PREFIX}${topic}`),
      stateful,
    }));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
