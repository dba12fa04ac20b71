/**
 * Models end to end on real Kafka, PostgreSQL and MLflow: a champion trained and
 * registered, the predictor serving it from the live pipeline (trades → candles →
 * indicators → predictions), the error monitor filling in actuals and rolling error,
 * and a new champion promoted mid-stream with no prediction lost or duplicated.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import type { MlflowRegistry } from '../../registry/mlflow.ts';
import type { TrainOutcome } from '../../training/train.ts';
import { asMinutes, mlflowRegistry, mlflowTrackingUri, syntheticMarket, trainOneMinute } from '../support/models.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';
import { startAllProcessors } from '../support/pipeline.ts';
import { startApi } from '../../cli/api.ts';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { RunningApi } from '../../cli/api.ts';
import { metricValue } from '../../lib/metrics.ts';

const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const PAIR = `P${suffix}/USD`;

// Four days to train on, then two hours the pipeline sees live, all with a learnable AR(1) signal.
const { history, live } = syntheticMarket(21, 120);

interface LivePrediction {
  id: string;
  pair: string;
  predictedPrice: number;
  lowerBound: number | null;
  upperBound: number | null;
  market: { lastTrade: { price: number } };
  modelVersion: { version: string; metrics: { mae: number } };
}

interface LiveSubscriber {
  readonly client: Client;
  readonly events: { data: { predictionCreated: LivePrediction }; errors?: unknown }[];
  readonly errors: unknown[];
}

/** A graphql-ws client of the gateway following every prediction of PAIR, with fields of three subgraphs. */
function followPredictions(gatewayUrl: string, key: string): LiveSubscriber {
  const client = createClient({
    url: gatewayUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { 'x-api-key': key },
  });
  const subscriber: LiveSubscriber = { client, events: [], errors: [] };
  client.subscribe(
    {
      query: `subscription($pair: ID) { predictionCreated(pair: $pair, horizonMinutes: 1) {
        id pair predictedPrice lowerBound upperBound
        market { lastTrade { price } }
        modelVersion { version metrics { mae } } } }`,
      variables: { pair: PAIR },
    },
    {
      next: (event) => subscriber.events.push(event as LiveSubscriber['events'][number]),
      error: (error) => subscriber.errors.push(error),
      complete: () => {},
    },
  );
  return subscriber;
}

describe('predictions from the live pipeline', () => {
  let iso: Isolation;
  let bus: Bus;
  let tasks: RunningTask[] = [];
  let first: TrainOutcome;
  let second: TrainOutcome;
  let registry: MlflowRegistry;
  let api: RunningApi;
  let follower: LiveSubscriber;

  before(async () => {
    registry = mlflowRegistry();
    first = await trainOneMinute(registry, PAIR, history);
    assert.equal(first.alias, 'champion', first.reason);
    // A second version (trained the same way) to promote by hand mid-stream.
    second = await trainOneMinute(registry, PAIR, history);

    iso = await isolate('predict', {
      MLFLOW_TRACKING_URI: mlflowTrackingUri(),
      PAIRS: PAIR,
      PREDICTION_HORIZONS: '1',
      CHAMPION_POLL_MS: '200',
      CANDLE_INTERVALS: '1m',
      MONITOR_MIN_OUTCOMES: '5',
    });
    ({ bus, tasks } = await startAllProcessors(iso));
    // The whole API on the same Kafka bus; a client follows predictions through the gateway as the pipeline makes them.
    api = await startApi(
      { ...iso.config, GATEWAY_PORT: 0, GATEWAY_HOST: '127.0.0.1' },
      { pool: iso.pool, bus, logger: testLogger },
    );
    follower = followPredictions(api.gateway.url, api.sessionKey ?? '');
    await waitFor(
      'the live subscription',
      async () => (await metricValue('tickcast_gateway_subscriptions_active')) >= 1,
      30_000,
    );

    const publish = (events: Parameters<Parameters<typeof replayCandles>[1]>[0]) =>
      bus.publish(events.map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value })));
    // Warm-up history for the indicators (the last 90 minutes of the training days), then live minutes in two halves.
    await replayCandles(asMinutes(history.slice(-90)), publish, { pair: PAIR, speed: 0 });
    await replayCandles(asMinutes(live.slice(0, 60)), publish, { pair: PAIR, speed: 0 });
    await waitFor(
      'predictions by the first champion',
      async () => (await count(`model_version = '${first.version}'`)) >= 20,
      120_000,
    );
    await registry.setAlias(first.modelName, 'champion', second.version);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await replayCandles(asMinutes(live.slice(60)), publish, { pair: PAIR, speed: 0 });
    await waitFor(
      'predictions by the new champion',
      async () => (await count(`model_version = '${second.version}'`)) >= 20,
      120_000,
    );
    await waitFor('actuals filled in', async () => (await count('actual_price IS NOT NULL')) >= 100, 120_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  });

  async function count(where: string): Promise<number> {
    const { rows } = await iso.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM predictions WHERE ${where}`);
    return rows[0]?.n ?? 0;
  }

  after(async () => {
    await follower?.client.dispose();
    await api?.gateway.stop();
    for (const subgraph of api?.subgraphs ?? []) await subgraph.stop();
    for (const task of tasks.reverse()) await task.stop();
    await bus?.close();
    await iso?.close();
  });

  it('predicts every minute exactly once across the champion swap', async () => {
    const { rows } = await iso.pool.query<{ made_at: Date; n: number; versions: string[] }>(
      `SELECT made_at, count(*)::int AS n, array_agg(DISTINCT model_version) AS versions
         FROM predictions GROUP BY made_at ORDER BY made_at`,
    );
    assert.ok(
      rows.every((r) => r.n === 1),
      'one prediction per minute',
    );
    const minutes = rows.map((r) => r.made_at.getTime());
    for (let i = 1; i < minutes.length; i++) assert.equal(minutes[i]! - minutes[i - 1]!, 60_000, 'no minute skipped');
    const versions = rows.map((r) => r.versions[0]);
    const swap = versions.indexOf(second.version);
    assert.ok(swap > 0, 'the new champion took over mid-stream');
    assert.ok(versions.slice(0, swap).every((v) => v === first.version));
    assert.ok(
      versions.slice(swap).every((v) => v === second.version),
      'no flip-flop after the swap',
    );
  });

  it('fills in the actual close and the error once the target time passed', async () => {
    const { rows } = await iso.pool.query(
      `SELECT p.actual_price, p.error, p.predicted_price, c.close
         FROM predictions p JOIN candles c ON c.pair = p.pair AND c.interval = '1m' AND c.close_time = p.target_time
        WHERE p.actual_price IS NOT NULL`,
    );
    assert.ok(rows.length >= 100);
    for (const r of rows) {
      assert.equal(r.actual_price, Number(r.close));
      assert.ok(Math.abs(r.error - (r.actual_price - r.predicted_price)) < 1e-9);
    }
  });

  it('serves the newest prediction and its model version through the gateway', async () => {
    const res = await fetch(api.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': api.sessionKey ?? '' },
      body: JSON.stringify({
        query: `query($pair: ID!) { market(pair: $pair) { latestPrediction(horizonMinutes: 1) {
          id predictedPrice actualPrice modelVersion { version metrics { mae baselineMae } } } } }`,
        variables: { pair: PAIR },
      }),
    });
    const body = (await res.json()) as {
      errors?: unknown;
      data: {
        market: { latestPrediction: { id: string; modelVersion: { version: string; metrics: { mae: number } } } };
      };
    };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const latest = body.data.market.latestPrediction;
    const newest = await iso.pool.query<{ id: string }>('SELECT id FROM predictions ORDER BY made_at DESC LIMIT 1');
    assert.equal(latest.id, newest.rows[0]?.id);
    assert.equal(latest.modelVersion.version, second.version);
    assert.equal(latest.modelVersion.metrics.mae, second.result.test.mae);
  });

  it('pushes every prediction live through the gateway, resolved across three subgraphs', async () => {
    const { rows } = await iso.pool.query<{ id: string; predicted_price: number; model_version: string }>(
      'SELECT id, predicted_price, model_version FROM predictions ORDER BY made_at',
    );
    // Each event waits for its markets and models (MLflow) fetches; let the tail of the stream arrive.
    await waitFor('every prediction pushed', async () => follower.events.length >= rows.length, 60_000).catch(() => {});
    assert.deepEqual(follower.errors, []);
    assert.deepEqual(
      follower.events.map((e) => e.errors),
      follower.events.map(() => undefined),
      'no event carried errors',
    );
    const received = follower.events.map((e) => e.data.predictionCreated);
    assert.deepEqual(
      received.map((p) => p.id),
      rows.map((r) => r.id),
      'every stored prediction arrived once, in order',
    );
    const trades = await iso.pool.query<{ price: number }>(
      'SELECT DISTINCT price::float8 AS price FROM trades WHERE pair = $1',
      [PAIR],
    );
    const tradePrices = new Set(trades.rows.map((t) => t.price));
    const maeOf = new Map([
      [first.version, first.result.test.mae],
      [second.version, second.result.test.mae],
    ]);
    for (const [i, p] of received.entries()) {
      const row = rows[i]!;
      assert.equal(p.pair, PAIR);
      assert.equal(p.predictedPrice, row.predicted_price, 'prediction fields (predictions subgraph)');
      assert.ok(
        p.lowerBound !== null &&
          p.upperBound !== null &&
          p.lowerBound < p.predictedPrice &&
          p.predictedPrice < p.upperBound,
      );
      assert.ok(tradePrices.has(p.market.lastTrade.price), 'market.lastTrade (markets subgraph) is a stored trade');
      assert.equal(p.modelVersion.version, row.model_version);
      assert.equal(
        p.modelVersion.metrics.mae,
        maeOf.get(row.model_version),
        'modelVersion.metrics (models subgraph, MLflow)',
      );
    }
  });

  it('keeps rolling performance per model version', async () => {
    const { rows } = await iso.pool.query(
      `SELECT model_version, count, mae, directional_accuracy, interval_coverage FROM model_performance ORDER BY model_version`,
    );
    assert.deepEqual(rows.map((r) => r.model_version).sort(), [first.version, second.version].sort());
    for (const r of rows) {
      assert.ok(r.count >= 5 && r.mae > 0 && r.interval_coverage > 0.5, JSON.stringify(r));
    }
  });
});
