/**
 * One query through the gateway that touches all five subgraphs, against real
 * PostgreSQL and a real MLflow registry, checked value by value against the stores.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startApi, type RunningApi } from '../../cli/api.ts';
import { MlflowRegistry } from '../../registry/mlflow.ts';
import { applyClock, applyTrade } from '../../streams/candles/aggregator.ts';
import { initialCandleState } from '../../streams/candles/window-state.ts';
import { createIndicatorState, updateIndicators } from '../../lib/indicators/engine.ts';
import { tradesForMinute } from '../../streams/sources/candle-replay.ts';
import { insertTrades, readCandles, upsertCandles, upsertIndicators } from '../../streams/store/feature-store.ts';
import type { Candle, IndicatorSet, Trade } from '../../schema/events.ts';
import type { MarketOverviewQuery, MarketOverviewQueryVariables } from '../generated/operations.ts';
import { BTC_CANDLES, FULL_DAY } from '../support/data.ts';
import { loadDay } from '../support/market-data.ts';
import { isolate, testLogger, type Isolation } from '../support/services.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';

const PAIR = 'BTC/USD';
const QUERY = readFile(new URL('../operations/market-overview.graphql', import.meta.url), 'utf8');

describe('the federated graph over real stores', () => {
  let iso: Isolation;
  let api: RunningApi;
  let candles: Candle[];
  let latestSet: IndicatorSet;
  let lastTrade: Trade;
  const model = { name: `tickcast-btc-usd-5m-${Date.now().toString(36)}`, version: '', mae: 23.5, baselineMae: 24.1 };
  let response: { data?: MarketOverviewQuery; errors?: unknown[] };

  before(async () => {
    const mlflow = process.env['MLFLOW_TRACKING_URI'];
    if (!mlflow) throw new Error('needs MLflow: run through `npm test` or `scripts/with-services`');
    iso = await isolate('graph', { MLFLOW_TRACKING_URI: mlflow, GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1' });

    // Three real hours replayed through the (pure) candle and indicator code into the store.
    const rows = (await loadDay(BTC_CANDLES, FULL_DAY)).slice(0, 180);
    const state = initialCandleState(PAIR);
    const config = { intervals: ['1m', '5m', '15m', '1h'], allowedLatenessMs: 2_000, maxGapFillMinutes: 1_440 };
    const trades = rows.flatMap((row) => tradesForMinute(PAIR, row));
    candles = trades.flatMap((t) => applyTrade(state, t, config).closed);
    candles.push(
      ...applyClock(
        state,
        { v: 1, kind: 'clock', pair: PAIR, time: FULL_DAY.from + 181 * 60_000, source: 'replay-candles' },
        config,
      ).closed,
    );
    const indicatorState = createIndicatorState();
    const sets = candles
      .filter((c) => c.interval === '1m')
      .map((c): IndicatorSet => ({
        v: 1,
        pair: PAIR,
        interval: '1m',
        openTime: c.openTime,
        close: c.close,
        values: updateIndicators(indicatorState, c),
      }));
    latestSet = sets.at(-1)!;
    lastTrade = trades.at(-1)!;
    await upsertCandles(iso.pool, candles);
    await upsertIndicators(iso.pool, sets);
    await insertTrades(iso.pool, trades);

    await iso.pool.query(
      `INSERT INTO sentiment_features (coin, window_name, as_of, mean_score, count, bullish_ratio, bearish_ratio)
       VALUES ('BTC', '24h', $1, 0.25, 12, 0.5, 0.25)`,
      [new Date(FULL_DAY.from + 3 * 3_600_000)],
    );

    // A model version in the real MLflow registry, with the metrics the trainer logs.
    const registry = new MlflowRegistry({ trackingUri: mlflow });
    const experiment = await registry.ensureExperiment(model.name);
    const run = await registry.createRun(experiment.id);
    await registry.logMetrics(run.runId, { mae: model.mae, baseline_mae: model.baselineMae });
    await registry.finishRun(run.runId);
    await registry.createRegisteredModel(model.name);
    model.version = (await registry.createVersion(model.name, run.runId, 'model')).version;

    const madeAt = FULL_DAY.from + 3 * 3_600_000;
    await iso.pool.query(
      `INSERT INTO predictions (id, pair, horizon_minutes, made_at, target_time, predicted_price, lower_bound, upper_bound, model_name, model_version)
       VALUES ('p-1', $1, 5, $2, $3, 28400.5, 28300, 28500, $4, $5)`,
      [PAIR, new Date(madeAt), new Date(madeAt + 300_000), model.name, model.version],
    );

    api = await startApi(iso.config, { pool: iso.pool, bus: new MemoryBus(), logger: testLogger });
    const variables: MarketOverviewQueryVariables = { pair: PAIR, interval: '1m', first: 5, horizon: 5 };
    const res = await fetch(api.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': api.sessionKey ?? '' },
      body: JSON.stringify({ query: await QUERY, variables }),
    });
    response = (await res.json()) as typeof response;
  });

  after(async () => {
    await api?.gateway.stop();
    for (const subgraph of api?.subgraphs ?? []) await subgraph.stop();
    await iso?.close();
  });

  it('answers without errors', () => {
    assert.equal(response.errors, undefined, JSON.stringify(response.errors));
    assert.equal(response.data?.market?.pair, PAIR);
  });

  it('markets: last trade and the first candles equal the store', async () => {
    const market = response.data!.market!;
    assert.deepEqual(market.lastTrade, { price: lastTrade.price, time: new Date(lastTrade.time).toISOString() });
    const stored = await readCandles(iso.pool, { pair: PAIR, interval: '1m', from: 0, to: Date.now() });
    assert.deepEqual(
      market.candles.edges.map((e) => [
        e.node.openTime,
        e.node.open,
        e.node.high,
        e.node.low,
        e.node.close,
        e.node.volume,
      ]),
      stored.slice(0, 5).map((c) => [new Date(c.openTime).toISOString(), c.open, c.high, c.low, c.close, c.volume]),
    );
    assert.equal(market.candles.pageInfo.hasNextPage, true);
  });

  it('features: the newest indicator set is the last one computed', () => {
    const features = response.data!.market!.latestFeatures!;
    assert.equal(features.openTime, new Date(latestSet.openTime).toISOString());
    assert.equal(features.close, latestSet.close);
    assert.equal(features.rsi, latestSet.values['rsi_14']);
    assert.ok(typeof features.rsi === 'number');
  });

  it('sentiment: the stored 24h summary', () => {
    assert.deepEqual(response.data!.market!.sentiment, { meanScore: 0.25, count: 12 });
  });

  it('predictions and models: the latest prediction with its model version metrics from MLflow', () => {
    const prediction = response.data!.market!.latestPrediction!;
    assert.deepEqual(
      {
        id: prediction.id,
        predictedPrice: prediction.predictedPrice,
        lowerBound: prediction.lowerBound,
        upperBound: prediction.upperBound,
      },
      { id: 'p-1', predictedPrice: 28400.5, lowerBound: 28300, upperBound: 28500 },
    );
    assert.deepEqual(prediction.modelVersion, {
      modelName: model.name,
      version: model.version,
      metrics: { mae: model.mae, baselineMae: model.baselineMae },
    });
  });
});
