/**
 * A cross-asset model end to end over real Kafka, PostgreSQL and MLflow: trained on two
 * synthetic markets where the follower moves a minute after the leader, registered as
 * champion, served by the streaming predictor, which reads the leader's candles from the
 * feature store as the follower's minutes close. While the leader's feed runs, the live
 * predictions equal training/predict.ts on the same inputs (the stored indicator set and
 * the stored leader candles); when the leader's feed falls silent, the follower's
 * predictions are persistence's, never a guess without the model's inputs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS } from '../../schema/topics.ts';
import { INDICATOR_NAMES } from '../../schema/indicators.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import { metricValue } from '../../lib/metrics.ts';
import { crossAssetAt, crossAssetDatasetOptions } from '../../training/cross-asset.ts';
import { indicatorSeries } from '../../training/dataset.ts';
import { featureVector } from '../../training/features.ts';
import { predict } from '../../training/predict.ts';
import { ledMarkets } from '../../training/synthetic.ts';
import { trainAndRegister, type TrainOutcome } from '../../training/train.ts';
import { asMinutes, mlflowRegistry, mlflowTrackingUri } from '../support/models.ts';
import { startAllProcessors } from '../support/pipeline.ts';
import { isolate, waitFor, type Isolation } from '../support/services.ts';

const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const LEADER = `L${suffix}/USD`;
const FOLLOWER = `F${suffix}/USD`;
const HISTORY = 4 * 1440;
const LIVE_BOTH = 60;
const LIVE_FOLLOWER_ONLY = 30;

const { leader, follower } = ledMarkets(HISTORY + LIVE_BOTH + LIVE_FOLLOWER_ONLY, 9);
const FAST = { testDays: 1, validationDays: 1, folds: 3, treeDepths: [2], treeMaxRounds: 60, treeMinLeaf: 50 };

describe('a cross-asset model served live', () => {
  let iso: Isolation;
  let bus: Bus;
  let tasks: RunningTask[] = [];
  let trained: TrainOutcome;
  /** Open time of the first minute after the leader's feed fell silent. */
  const silentFrom = follower[HISTORY + LIVE_BOTH]!.openTime;

  before(async () => {
    trained = await trainAndRegister({
      registry: mlflowRegistry(),
      pair: FOLLOWER,
      horizonMinutes: 1,
      series: indicatorSeries(follower.slice(0, HISTORY)),
      settings: { ...FAST, crossAsset: crossAssetDatasetOptions(indicatorSeries(leader.slice(0, HISTORY))) },
    });
    assert.equal(trained.alias, 'champion', trained.reason);
    assert.match(trained.result.winner, /\+partner$/);

    iso = await isolate('xasset', {
      MLFLOW_TRACKING_URI: mlflowTrackingUri(),
      PAIRS: `${LEADER},${FOLLOWER}`,
      PREDICTION_HORIZONS: '1',
      CHAMPION_POLL_MS: '200',
      CANDLE_INTERVALS: '1m',
      CROSS_ASSET_PARTNERS: `${FOLLOWER}:${LEADER}`,
    });
    ({ bus, tasks } = await startAllProcessors(iso));
    const publish = (events: Parameters<Parameters<typeof replayCandles>[1]>[0]) =>
      bus.publish(events.map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value })));
    const play = (pair: string, from: number, to: number, candles: typeof leader) =>
      replayCandles(asMinutes(candles.slice(from, to)), publish, { pair, speed: 0 });
    // Indicator warm-up (the last 90 minutes of history), then live minutes: the leader's
    // ahead of the follower's, as two feeds are; then the follower's alone. The leader's
    // minutes are stored before the follower's arrive: the predictor reads them as each
    // follower minute closes, and one not stored yet is a stale partner (persistence), which
    // a loaded machine would otherwise make of any minute.
    await play(LEADER, HISTORY - 90, HISTORY + LIVE_BOTH, leader);
    const leaderLast = leader[HISTORY + LIVE_BOTH - 1]!.openTime;
    await waitFor(
      "the leader's live minutes in the feature store",
      async () =>
        (
          await iso.pool.query(
            `SELECT 1 FROM candles WHERE pair = $1 AND interval = '1m' AND open_time = to_timestamp($2::float8 / 1000)`,
            [LEADER, leaderLast],
          )
        ).rowCount === 1,
      180_000,
    );
    await play(FOLLOWER, HISTORY - 90, HISTORY + LIVE_BOTH, follower);
    await waitFor(
      "the follower's predictions while both feeds run",
      async () => (await predictions('made_at <= to_timestamp($2::float8 / 1000)', silentFrom)).length >= 50,
      180_000,
    );
    await play(FOLLOWER, HISTORY + LIVE_BOTH, HISTORY + LIVE_BOTH + LIVE_FOLLOWER_ONLY, follower);
    await waitFor(
      "the follower's predictions after the leader fell silent",
      async () => (await predictions('made_at > to_timestamp($2::float8 / 1000)', silentFrom)).length >= 25,
      180_000,
    );
  });

  after(async () => {
    for (const task of tasks.reverse()) await task.stop();
    await bus?.close();
    await iso?.close();
  });

  interface StoredPrediction {
    openTime: number;
    basePrice: number;
    predictedPrice: number;
    modelVersion: string;
  }

  async function predictions(where: string, at: number): Promise<StoredPrediction[]> {
    const { rows } = await iso.pool.query<StoredPrediction>(
      `SELECT (extract(epoch FROM made_at) * 1000)::float8 - 60000 AS "openTime", base_price AS "basePrice",
              predicted_price AS "predictedPrice", model_version AS "modelVersion"
         FROM predictions WHERE pair = $1 AND horizon_minutes = 1 AND ${where} ORDER BY made_at`,
      [FOLLOWER, at],
    );
    return rows;
  }

  it("predicts with the leader's inputs from the feature store, equal to training/predict.ts on them within 1e-5", async () => {
    const made = await predictions('made_at <= to_timestamp($2::float8 / 1000)', silentFrom);
    const { rows: leaderCandles } = await iso.pool.query<{ openTime: number; close: number }>(
      `SELECT (extract(epoch FROM open_time) * 1000)::float8 AS "openTime", close::float8 AS close
         FROM candles WHERE pair = $1 AND interval = '1m'`,
      [LEADER],
    );
    const leaderCloses = new Map(leaderCandles.map((c) => [c.openTime, c.close]));
    const { rows: sets } = await iso.pool.query<Record<string, number | null> & { openTime: number; close: number }>(
      `SELECT (extract(epoch FROM open_time) * 1000)::float8 AS "openTime", close, ${INDICATOR_NAMES.join(', ')}
         FROM indicators WHERE pair = $1 AND interval = '1m'`,
      [FOLLOWER],
    );
    const setAt = new Map(sets.map((s) => [s.openTime, s]));
    let compared = 0;
    let worst = 0;
    for (const p of made) {
      const set = setAt.get(p.openTime);
      assert.ok(set, `no stored indicator set for ${new Date(p.openTime).toISOString()}`);
      const values = Object.fromEntries(INDICATOR_NAMES.map((name) => [name, set[name]]));
      const x = featureVector({ close: set.close, values }, crossAssetAt(leaderCloses, p.openTime, values));
      assert.ok(x, `the leader's inputs exist for ${new Date(p.openTime).toISOString()}`);
      const live = Math.log(p.predictedPrice / p.basePrice);
      worst = Math.max(worst, Math.abs(live - predict(trained.result.model, x)));
      compared += 1;
    }
    assert.ok(compared >= 50, `${compared} predictions compared`);
    assert.ok(worst <= 1e-5, `max |live − training/predict.ts| = ${worst}`);
  });

  it("falls back to persistence while the leader's feed is silent, and counts it", async () => {
    const silent = await predictions('made_at > to_timestamp($2::float8 / 1000)', silentFrom);
    assert.ok(silent.length >= 25, `${silent.length} predictions after the leader fell silent`);
    for (const p of silent) {
      assert.equal(p.predictedPrice, p.basePrice, `persistence at ${new Date(p.openTime).toISOString()}`);
      assert.equal(p.modelVersion, trained.version);
    }
    assert.ok(
      (await metricValue('tickcast_predictor_fallbacks_total', { pair: FOLLOWER, reason: 'partner-stale' })) >=
        silent.length,
    );
  });
});
