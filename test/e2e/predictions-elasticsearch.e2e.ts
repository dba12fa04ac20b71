/**
 * With Elasticsearch configured, the API still shows every prediction that was made: the
 * real pipeline (trades → candles → indicators → predictor → error monitor → predictions
 * writers) on Kafka, PostgreSQL, MLflow and Elasticsearch, queried through the gateway.
 * Every prediction on the predictions topic is served by `predictions`, the rolling error
 * by `modelPerformance`, and the same ids and rows are in Elasticsearch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client as ElasticsearchClient } from '@elastic/elasticsearch';
import { TOPICS } from '../../schema/topics.ts';
import { predictionSchema } from '../../schema/events.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { decodeValue } from '../../streams/bus/codec.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import type { TrainOutcome } from '../../training/train.ts';
import type { ModelPerformanceRow } from '../../streams/predictions-store/store.ts';
import { asMinutes, mlflowRegistry, syntheticMarket, trainOneMinute } from '../support/models.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';
import { startAllProcessors } from '../support/pipeline.ts';
import { startApi, type RunningApi } from '../../cli/api.ts';

const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const PAIR = `E${suffix}/USD`;
const LIVE_MINUTES = 40;
const { history, live } = syntheticMarket(34, LIVE_MINUTES);

interface ApiPrediction {
  id: string;
  predictedPrice: number;
  actualPrice: number | null;
}
interface ApiPerformance {
  modelName: string;
  version: string;
  pair: string;
  horizonMinutes: number;
  count: number;
  mae: number | null;
  updatedAt: string;
}

describe('with ELASTICSEARCH_URL set, the API shows every prediction made', () => {
  let iso: Isolation;
  let bus: Bus;
  let tasks: RunningTask[] = [];
  let model: TrainOutcome;
  let api: RunningApi;
  let es: ElasticsearchClient;
  let prefix: string;
  /** Ids of every prediction the predictor published, read back from the topic. */
  const made = new Set<string>();

  async function graphql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    const res = await fetch(api.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': api.sessionKey ?? '' },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data: T; errors?: unknown };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  }

  const apiPredictions = async (): Promise<ApiPrediction[]> =>
    (
      await graphql<{ market: { predictions: ApiPrediction[] } }>(
        `
          query ($pair: ID!) {
            market(pair: $pair) {
              predictions(horizonMinutes: 1, first: 1000) {
                id
                predictedPrice
                actualPrice
              }
            }
          }
        `,
        { pair: PAIR },
      )
    ).market.predictions;

  const apiPerformance = async (): Promise<ApiPerformance[]> =>
    (
      await graphql<{ modelPerformance: ApiPerformance[] }>(
        `
          query ($pair: String) {
            modelPerformance(pair: $pair) {
              modelName
              version
              pair
              horizonMinutes
              count
              mae
              updatedAt
            }
          }
        `,
        { pair: PAIR },
      )
    ).modelPerformance;

  async function esPredictionIds(): Promise<string[]> {
    await es.indices.refresh({ index: `${prefix}-predictions-*`, ignore_unavailable: true, allow_no_indices: true });
    const { hits } = await es.search<{ id: string }>({
      index: `${prefix}-predictions-*`,
      ignore_unavailable: true,
      allow_no_indices: true,
      size: 1000,
      query: { term: { pair: PAIR } },
      _source: ['id'],
    });
    return hits.hits.map((h) => h._source?.id ?? '');
  }

  async function esPerformance(): Promise<ModelPerformanceRow[]> {
    await es.indices.refresh({ index: `${prefix}-model-performance`, ignore_unavailable: true });
    const { hits } = await es.search<ModelPerformanceRow>({
      index: `${prefix}-model-performance`,
      ignore_unavailable: true,
      size: 100,
      query: { term: { pair: PAIR } },
    });
    return hits.hits.flatMap((h) => (h._source ? [h._source] : []));
  }

  before(async () => {
    const mlflow = process.env['MLFLOW_TRACKING_URI'];
    const elasticsearch = process.env['ELASTICSEARCH_URL'];
    if (!mlflow || !elasticsearch)
      throw new Error('needs MLflow and Elasticsearch: run through `npm test` or `scripts/with-services`');
    model = await trainOneMinute(mlflowRegistry(), PAIR, history);
    assert.equal(model.alias, 'champion', model.reason);

    iso = await isolate('predes', {
      MLFLOW_TRACKING_URI: mlflow,
      ELASTICSEARCH_URL: elasticsearch,
      PAIRS: PAIR,
      PREDICTION_HORIZONS: '1',
      CHAMPION_POLL_MS: '200',
      CANDLE_INTERVALS: '1m',
      MONITOR_MIN_OUTCOMES: '5',
    });
    prefix = iso.config.ELASTICSEARCH_INDEX_PREFIX;
    es = new ElasticsearchClient({ node: elasticsearch });
    ({ bus, tasks } = await startAllProcessors(iso));
    tasks.push(
      await bus.consume({
        groupId: 'test-made',
        topics: [TOPICS.predictions.name],
        fromBeginning: true,
        handler: async (records) => {
          for (const record of records) made.add(decodeValue(predictionSchema, record).id);
        },
      }),
    );
    api = await startApi(
      { ...iso.config, GATEWAY_PORT: 0, GATEWAY_HOST: '127.0.0.1' },
      { pool: iso.pool, bus, logger: testLogger },
    );

    const publish = (events: Parameters<Parameters<typeof replayCandles>[1]>[0]) =>
      bus.publish(events.map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value })));
    // Warm-up history for the indicators, then the live minutes.
    await replayCandles(asMinutes(history.slice(-90)), publish, { pair: PAIR, speed: 0 });
    await replayCandles(asMinutes(live), publish, { pair: PAIR, speed: 0 });
    await waitFor('predictions on the topic', async () => made.size >= LIVE_MINUTES - 5, 180_000);
    // The tail of the stream: nothing new for a few seconds.
    let seen = -1;
    await waitFor(
      'the predictor to finish',
      async () => {
        const settled = seen === made.size;
        seen = made.size;
        return settled;
      },
      60_000,
      3_000,
    );
    await waitFor(
      'Elasticsearch to hold every prediction',
      async () => (await esPredictionIds()).length >= made.size,
      60_000,
    );
    await waitFor('rolling performance in Elasticsearch', async () => (await esPerformance()).length > 0, 120_000);
  });

  after(async () => {
    await api?.gateway.stop();
    for (const subgraph of api?.subgraphs ?? []) await subgraph.stop();
    for (const task of tasks.reverse()) await task.stop();
    await bus?.close();
    await es?.close();
    await iso?.close();
  });

  it('serves every prediction made through the gateway, and Elasticsearch holds the same ids', async () => {
    assert.ok(made.size >= LIVE_MINUTES - 5, `${made.size} predictions made`);
    // The PostgreSQL writer follows the topic in its own group: let it catch up (it never does when it is not running).
    await waitFor(
      'the API to serve every prediction made',
      async () => (await apiPredictions()).length >= made.size,
      30_000,
    ).catch(() => {});
    const served = await apiPredictions();
    assert.deepEqual(
      served.map((p) => p.id).sort(),
      [...made].sort(),
      'predictions through the gateway = predictions made',
    );
    assert.deepEqual((await esPredictionIds()).sort(), [...made].sort(), 'Elasticsearch ids = predictions made');
  });

  it('serves the rolling model performance through the gateway, the rows Elasticsearch holds', async () => {
    // Both writers follow the same topic in their own groups: wait until they agree on the newest row.
    const key = (r: { modelName: string; pair: string; horizonMinutes: number; count: number; mae: number | null }) =>
      JSON.stringify([r.modelName, r.pair, r.horizonMinutes, r.count, r.mae]);
    let served: ApiPerformance[] = [];
    let indexed: ModelPerformanceRow[] = [];
    await waitFor(
      'the API and Elasticsearch to show the same rolling performance',
      async () => {
        [served, indexed] = await Promise.all([apiPerformance(), esPerformance()]);
        return served.length > 0 && served.map(key).sort().join() === indexed.map(key).sort().join();
      },
      60_000,
      500,
    ).catch(() => {});
    assert.ok(served.length > 0, 'modelPerformance through the gateway is not empty');
    assert.deepEqual(served.map(key).sort(), indexed.map(key).sort());
    for (const row of served) {
      assert.equal(row.version, model.version);
      assert.ok(row.count >= 5, `count ${row.count}`);
      assert.equal(new Date(row.updatedAt).getTime(), indexed.find((r) => r.modelVersion === row.version)?.updatedAt);
    }
  });
});
