/**
 * Builds what a stream service needs from configuration: the bus (Kafka when
 * KAFKA_BROKERS is set, the in-process bus otherwise), the feature store, and the
 * processors. The CLI starts any subset of them; `tickcast start` starts them all.
 */
import pg from 'pg';
import type { Config } from '../lib/config.ts';
import { dependencies } from '../lib/dependencies.ts';
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
import { openRegistry } from '../registry/index.ts';
import type { ModelRegistry } from '../registry/registry.ts';
import { Champions } from './predictor/champions.ts';
import { predictorProcessor } from './predictor/processor.ts';
import { sentimentAtFromStore } from '../training/sentiment.ts';
import { partnerInputsFromStore, type OwnValues } from '../training/cross-asset.ts';
import { coinOfPair } from './sentiment/coins.ts';
import { errorMonitorProcessor } from './monitor/processor.ts';
import { monitorStatesFromStore } from './monitor/store.ts';
import { PREDICTIONS_WRITER_GROUP, startPredictionsWriter } from './predictions-store/writer.ts';
import { ElasticsearchPredictionStore, openElasticsearchStore } from './predictions-store/elasticsearch.ts';
import { PostgresPredictionStore } from './predictions-store/postgres.ts';
import type { PredictionStore } from './predictions-store/store.ts';
import { sentimentExtractor } from './sentiment/extractor.ts';
import { sentimentFeaturesProcessor } from './sentiment/features.ts';
import { scorerFromConfig } from './sentiment/from-config.ts';
import { startSentimentWriter } from './sentiment/writer.ts';

import type { ProcessorName } from './processors.ts';

export { PROCESSORS, type ProcessorName } from './processors.ts';

export async function createBus(config: Config, logger: Logger): Promise<Bus> {
  const kafka = config.KAFKA_BROKERS
    ? new KafkaBus(
        {
          brokers: config.KAFKA_BROKERS,
          clientId: config.KAFKA_CLIENT_ID,
          groupPrefix: config.TICKCAST_GROUP_PREFIX,
          topicPrefix: config.KAFKA_TOPIC_PREFIX,
          sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
          heartbeatIntervalMs: config.KAFKA_HEARTBEAT_INTERVAL_MS,
          holdFirstTransactionMs: config.KAFKA_FAULT_HOLD_TRANSACTION_MS,
        },
        logger,
      )
    : undefined;
  if (kafka) {
    dependencies.useLogger(logger);
    kafka.watchHealth(dependencies, {
      intervalMs: config.DEPENDENCY_CHECK_INTERVAL_MS,
      timeoutMs: config.DEPENDENCY_CHECK_INTERVAL_MS,
      maxOutageMs: config.KAFKA_MAX_OUTAGE_MS,
      failuresBeforeDown: config.DEPENDENCY_FAILURES_BEFORE_DOWN,
      // Within the bound the processes stay up (not ready) and restart once the broker is back.
      restartAfterOutage: true,
    });
  }
  const bus: Bus = kafka ?? new MemoryBus({ dropConsumed: true });
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
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: config.DATABASE_IDLE_TIMEOUT_MS,
      statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
      queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
    },
    logger,
  );
  await migrate(database.pool, logger);
  if (database.kind === 'embedded') return database;
  // A connection of its own per check: a pool busy with the writers' batches would make a slow
  // answer look like an outage.
  dependencies.useLogger(logger);
  const timeoutMs = config.DEPENDENCY_CHECK_INTERVAL_MS;
  const unwatch = dependencies.watch(
    'postgres',
    async () => {
      const client = new pg.Client({
        connectionString: database.url,
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
      });
      // A connection the server drops mid-check is reported through the rejected query below.
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    {
      intervalMs: config.DEPENDENCY_CHECK_INTERVAL_MS,
      maxOutageMs: config.DATABASE_MAX_OUTAGE_MS,
      failuresBeforeDown: config.DEPENDENCY_FAILURES_BEFORE_DOWN,
    },
  );
  return {
    ...database,
    close: async () => {
      unwatch();
      await database.close();
    },
  };
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
          maxGapFillMinutes: config.CANDLE_MAX_GAP_FILL_MINUTES,
          maxAheadMs: config.EVENT_MAX_AHEAD_MS,
          maxJumpMs: config.CANDLE_MAX_JUMP_MS,
          liveUpdates: config.CANDLE_LIVE_UPDATES,
        }),
      );
    case 'indicators':
      return bus.runStateful(indicatorsProcessor());
    case 'store-writer':
      if (!database) throw new Error('the store writer needs the feature store');
      return startStoreWriter(bus, database.pool, logger, {
        maxAheadMs: config.EVENT_MAX_AHEAD_MS,
        maxJumpMs: config.CANDLE_MAX_JUMP_MS,
      });
    case 'predictor': {
      const horizons = config.PREDICTION_HORIZONS.map(Number);
      const registry = registryOf(config);
      dependencies.useLogger(logger);
      const champions = new Champions(
        registry,
        {
          pairs: config.PAIRS,
          horizons,
          pollMs: config.CHAMPION_POLL_MS,
          maxOutageMs: config.MLFLOW_MAX_OUTAGE_MS,
          ...(registry.kind === 'mlflow' ? { health: dependencies } : {}),
        },
        logger.child({ processor: 'predictor' }),
      );
      await champions.start();
      // Models trained with `--sentiment` read the coin's sentiment from the feature store.
      const sentiment = database
        ? (pair: string, openTime: number) => sentimentAtFromStore(database.pool, coinOfPair(pair), openTime)
        : undefined;
      // Cross-asset models read the partner pair's candles from the feature store.
      const partner = database
        ? (pair: string, openTime: number, own: OwnValues) =>
            partnerInputsFromStore(database.pool, pair, openTime, own, {
              waitMs: config.PREDICTOR_PARTNER_WAIT_MS,
              partners: config.CROSS_ASSET_PARTNERS,
            })
        : undefined;
      return alsoStopping(await bus.runStateful(predictorProcessor(champions, horizons, sentiment, partner)), () =>
        champions.stop(),
      );
    }
    case 'monitor': {
      const registry = registryOf(config);
      const trainingMae = new Map<string, Promise<number | null>>();
      // A replay, or a pipeline restarted behind a backlog, puts the candles up to a day or more
      // ahead of the predictions (both inputs are read side by side): a close is kept that long
      // for its prediction, and only while predictions lag (the monitor drops the closes no
      // later prediction can target), so at most 2,880 per pair.
      const rolling = { window: config.MONITOR_WINDOW, closesRetentionMs: 2 * 86_400_000 };
      // Windows rebuilt from the stored predictions: a restart must not reset modelPerformance counts.
      const restored = database
        ? await monitorStatesFromStore(database.pool, { ...rolling, maxPending: 10_000 })
        : undefined;
      return bus.runStateful(
        errorMonitorProcessor({
          ...rolling,
          ...(restored ? { restored } : {}),
          alertFactor: config.MONITOR_ALERT_FACTOR,
          minOutcomes: config.MONITOR_MIN_OUTCOMES,
          trainingMae: (name, version) => {
            const key = `${name}@${version}`;
            let mae = trainingMae.get(key);
            if (!mae) {
              mae = registry.getVersion(name, version).then(
                (v) => v?.metrics['mae'] ?? null,
                (error: unknown) => {
                  // Not kept: the batch is retried, and must ask MLflow again once it is back.
                  trainingMae.delete(key);
                  throw error;
                },
              );
              trainingMae.set(key, mae);
            }
            return mae;
          },
        }),
      );
    }
    case 'predictions-writer': {
      const writers: RunningTask[] = [];
      for (const { groupId, store, maxOutageMs } of predictionStoresOf(config, database, logger)) {
        // /ready and tickcast_dependency_up say when the cluster is down; beyond its bound the process exits.
        // (PostgreSQL is checked by openFeatureStore.)
        let unwatch = (): void => undefined;
        if (store instanceof ElasticsearchPredictionStore) {
          dependencies.useLogger(logger);
          unwatch = dependencies.watch('elasticsearch', () => store.checkHealth(config.DEPENDENCY_CHECK_INTERVAL_MS), {
            intervalMs: config.DEPENDENCY_CHECK_INTERVAL_MS,
            maxOutageMs: config.ELASTICSEARCH_MAX_OUTAGE_MS,
            failuresBeforeDown: config.DEPENDENCY_FAILURES_BEFORE_DOWN,
          });
        }
        const writer = await startPredictionsWriter(bus, store, logger, { groupId, maxOutageMs });
        writers.push(
          alsoStopping(writer, async () => {
            unwatch();
            await store.close();
          }),
        );
      }
      return allOf(writers);
    }
    case 'sentiment-extractor': {
      const scorer = scorerFromConfig(config, logger);
      const task = await bus.runStateful(
        sentimentExtractor({
          scorer,
          maxArticles: config.SENTIMENT_MAX_ARTICLES,
          maxAheadMs: config.EVENT_MAX_AHEAD_MS,
        }),
      );
      // Released first: a batch held for an unavailable LLM then fails uncommitted (its news
      // waits in Kafka) instead of holding up the stop until the shutdown timeout.
      return {
        done: task.done,
        stop: async () => {
          scorer.close?.();
          await task.stop();
        },
      };
    }
    case 'sentiment-features':
      return bus.runStateful(sentimentFeaturesProcessor());
    case 'sentiment-writer':
      if (!database) throw new Error('the sentiment writer needs the feature store');
      return startSentimentWriter(bus, database.pool, logger);
  }
}

function registryOf(config: Config): ModelRegistry {
  return openRegistry({ mlflowTrackingUri: config.MLFLOW_TRACKING_URI, dataDir: config.TICKCAST_DATA_DIR });
}

/**
 * Every store predictions go to, each with its own consumer group. The feature store's
 * tables are what the API reads, so they are written whenever there is a feature store;
 * Elasticsearch (search, dashboards) in addition when ELASTICSEARCH_URL is set. Separate
 * groups rather than one writer writing both: a store that is down holds back only its own
 * group's offsets (its batch is retried, never committed unwritten) while the other keeps
 * up, as the two predictions writer Deployments do in k8s/. Without a feature store (a
 * process for Elasticsearch alone) only Elasticsearch is written.
 */
export function predictionStoresOf(
  config: Config,
  database: Database | undefined,
  logger: Logger,
): { groupId: string; store: PredictionStore; maxOutageMs: number }[] {
  const stores: { groupId: string; store: PredictionStore; maxOutageMs: number }[] = [];
  if (database)
    stores.push({
      groupId: PREDICTIONS_WRITER_GROUP,
      store: new PostgresPredictionStore({ pool: database.pool, logger }),
      maxOutageMs: config.DATABASE_MAX_OUTAGE_MS,
    });
  if (config.ELASTICSEARCH_URL)
    stores.push({
      groupId: `${PREDICTIONS_WRITER_GROUP}-elasticsearch`,
      store: openElasticsearchStore(
        { node: config.ELASTICSEARCH_URL },
        { logger, prefix: config.ELASTICSEARCH_INDEX_PREFIX },
      ),
      maxOutageMs: config.ELASTICSEARCH_MAX_OUTAGE_MS,
    });
  if (stores.length === 0) throw new Error('the predictions writer needs the feature store or ELASTICSEARCH_URL');
  return stores;
}

/** One task for several: done when all are, failed when one fails; stop stops them all. */
function allOf(tasks: readonly RunningTask[]): RunningTask {
  return {
    done: Promise.all(tasks.map((t) => t.done)).then(() => undefined),
    stop: async () => {
      await Promise.all(tasks.map((t) => t.stop()));
    },
  };
}

/** A task whose stop also releases what was started for it. */
function alsoStopping(task: RunningTask, release: () => Promise<void>): RunningTask {
  return {
    done: task.done,
    stop: async () => {
      await task.stop();
      await release();
    },
  };
}
