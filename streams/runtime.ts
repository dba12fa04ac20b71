/**
 * Builds what a stream service needs from configuration: the bus (Kafka when
 * KAFKA_BROKERS is set, the in-process bus otherwise), the feature store, and the
 * processors. The CLI starts any subset of them; `tickcast start` starts them all.
 */
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { TOPICS } from '../schema/topics.ts';
import type { Bus, RunningTask } from './bus/bus.ts';
import { KafkaBus } from './bus/kafka.ts';
import { MemoryBus } from './bus/memory.ts';
import { candlesProcessor } from './candles/processor.ts';
import { indicatorsProcessor } from './indicators/processor.ts';
import { openDatabase, type Database } from './store/database.ts';
import { migrate } from './store/migrate.ts';
import { startStoreWriter } from './store/writer.ts';
import { join } from 'node:path';

export const PROCESSORS = ['candles', 'indicators', 'store-writer'] as const;
export type ProcessorName = (typeof PROCESSORS)[number];

export async function createBus(config: Config, logger: Logger): Promise<Bus> {
  const bus: Bus = config.KAFKA_BROKERS
    ? new KafkaBus(
        {
          brokers: config.KAFKA_BROKERS,
          clientId: config.KAFKA_CLIENT_ID,
          groupPrefix: config.TICKCAST_GROUP_PREFIX,
          topicPrefix: config.KAFKA_TOPIC_PREFIX,
        },
        logger,
      )
    : new MemoryBus();
  await bus.ensureTopics(Object.values(TOPICS));
  logger.info({ bus: bus.kind, brokers: config.KAFKA_BROKERS }, 'bus ready');
  return bus;
}

export async function openFeatureStore(config: Config, logger: Logger): Promise<Database> {
  const database = await openDatabase(
    {
      url: config.DATABASE_URL,
      embeddedDataDir: join(config.TICKCAST_DATA_DIR, 'pglite'),
      poolSize: config.DATABASE_POOL_SIZE,
    },
    logger,
  );
  await migrate(database.pool, logger);
  return database;
}

export async function startProcessor(
  name: ProcessorName,
  context: { config: Config; logger: Logger; bus: Bus; database: Database | undefined },
): Promise<RunningTask> {
  const { config, logger, bus, database } = context;
  switch (name) {
    case 'candles':
      return bus.runStateful(
        candlesProcessor({
          intervals: config.CANDLE_INTERVALS,
          allowedLatenessMs: config.CANDLE_ALLOWED_LATENESS_MS,
          liveUpdates: config.CANDLE_LIVE_UPDATES,
        }),
      );
    case 'indicators':
      return bus.runStateful(indicatorsProcessor());
    case 'store-writer':
      if (!database) throw new Error('the store writer needs the feature store');
      return startStoreWriter(bus, database.pool, logger);
  }
}
