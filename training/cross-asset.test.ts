import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { seededRandom } from '../lib/random.ts';
import type { IndicatorInput } from '../lib/indicators/engine.ts';
import {
  CROSS_ASSET_FEATURE_NAMES,
  crossAssetAt,
  crossAssetDatasetOptions,
  partnerInputsFromStore,
} from './cross-asset.ts';
import { indicatorSeries, MINUTE_MS } from './dataset.ts';
import { evaluateSeries } from './evaluate.ts';
import { normal } from './synthetic.ts';

const T = Date.UTC(2024, 0, 1, 12, 0);

describe('cross-asset inputs', () => {
  it("are the partner's log returns up to its same-minute close, and the spreads against the pair's own", () => {
    const closes = new Map<number, number>();
    for (let k = 0; k <= 15; k += 1) closes.set(T - k * MINUTE_MS, 100 * Math.exp(-0.001 * k));
    const own = { log_return_1: 0.003, log_return_5: -0.002, log_return_15: 0.01 };
    const x = crossAssetAt(closes, T, own);
    assert.equal(x.length, CROSS_ASSET_FEATURE_NAMES.length);
    // Partner returns over 1, 2, 3, 5, 10, 15 minutes: 0.001 per minute.
    [1, 2, 3, 5, 10, 15].forEach((k, i) => assert.ok(Math.abs((x[i] ?? NaN) - 0.001 * k) < 1e-12, `k=${k}: ${x[i]}`));
    // Spreads: own − partner over 1, 5 and 15 minutes.
    assert.ok(Math.abs((x[6] ?? NaN) - (0.003 - 0.001)) < 1e-12);
    assert.ok(Math.abs((x[7] ?? NaN) - (-0.002 - 0.005)) < 1e-12);
    assert.ok(Math.abs((x[8] ?? NaN) - (0.01 - 0.015)) < 1e-12);
  });

  it('are null where the partner has no close (its feed silent) or an own return is still warming up', () => {
    const closes = new Map([[T - MINUTE_MS, 100]]);
    assert.deepEqual(
      crossAssetAt(closes, T, { log_return_1: 0.001, log_return_5: 0, log_return_15: 0 }),
      CROSS_ASSET_FEATURE_NAMES.map(() => null),
    );
    const full = new Map(Array.from({ length: 16 }, (_, k) => [T - k * MINUTE_MS, 100 + k] as [number, number]));
    const x = crossAssetAt(full, T, { log_return_1: 0.001, log_return_5: null, log_return_15: 0 });
    assert.equal(x[7], null);
    assert.notEqual(x[6], null);
  });
});

/**
 * Two markets where the second follows the first a minute later: ETH's return over minute
 * t + 1 is 0.6 × BTC's over minute t plus its own noise. Nothing in ETH's own past predicts it.
 */
function ledMarkets(count: number, seed: number): { btc: IndicatorInput[]; eth: IndicatorInput[] } {
  const gauss = normal(seededRandom(seed));
  const sigma = 5e-4;
  const btc: IndicatorInput[] = [];
  const eth: IndicatorInput[] = [];
  let b = 30_000;
  let e = 2_000;
  let lead = 0;
  for (let i = 0; i < count; i += 1) {
    const rb = sigma * gauss();
    const re = 0.6 * lead + sigma * gauss();
    lead = rb;
    const openTime = Date.UTC(2024, 0, 1) + i * MINUTE_MS;
    const candle = (open: number, r: number): IndicatorInput => {
      const close = open * Math.exp(r);
      return { openTime, open, high: Math.max(open, close), low: Math.min(open, close), close, volume: 1 };
    };
    btc.push(candle(b, rb));
    eth.push(candle(e, re));
    b = btc[i]!.close;
    e = eth[i]!.close;
  }
  return { btc, eth };
}

describe('a planted cross-asset lead', () => {
  const FAST = { testDays: 1, validationDays: 1, folds: 3, treeDepths: [2], treeMaxRounds: 60, treeMinLeaf: 50 };
  const { btc, eth } = ledMarkets(4 * 1440, 5);
  const ethSeries = indicatorSeries(eth);
  const btcSeries = indicatorSeries(btc);

  it("is found through the partner's inputs, and is invisible without them", () => {
    const withPartner = evaluateSeries('ETH/USD', ethSeries, 1, {
      ...FAST,
      crossAsset: crossAssetDatasetOptions(btcSeries),
    });
    assert.match(withPartner.winner, /\+partner$/);
    assert.ok(withPartner.test.maeRatio < 0.95, `with the partner: ratio ${withPartner.test.maeRatio}`);
    assert.ok(withPartner.testVsBaseline.t <= -2, `t ${withPartner.testVsBaseline.t}`);
    const alone = evaluateSeries('ETH/USD', ethSeries, 1, FAST);
    assert.ok(alone.test.maeRatio > 0.99, `own history only: ratio ${alone.test.maeRatio}`);
  });
});

describe('partnerInputsFromStore', () => {
  /** A pool whose candles table gains the partner's candle t after `arrivesAfter` queries. */
  function pool(arrivesAfter: number, liveFeed: boolean) {
    let queries = 0;
    const query = async () => {
      queries += 1;
      const rows = Array.from({ length: 16 }, (_, k) => ({ openTime: T - k * MINUTE_MS, close: 100 + k })).filter(
        (r) => (r.openTime !== T || queries > arrivesAfter) && (liveFeed || r.openTime < T - MINUTE_MS),
      );
      return { rows };
    };
    return { pool: { query } as unknown as pg.Pool, queries: () => queries };
  }
  const own = { log_return_1: 0, log_return_5: 0, log_return_15: 0 };

  it("waits for the partner's same-minute candle when its feed is live", async () => {
    const store = pool(3, true);
    const x = await partnerInputsFromStore(store.pool, 'ETH/USD', T, own, 2_000);
    assert.ok(x.every((v) => v !== null));
    assert.equal(store.queries(), 4);
  });

  it('answers without it at once when the feed is silent, and after the wait when the candle never comes', async () => {
    const silent = pool(0, false);
    assert.ok((await partnerInputsFromStore(silent.pool, 'ETH/USD', T, own, 2_000)).every((v) => v === null));
    assert.equal(silent.queries(), 1);
    const late = pool(1_000, true);
    const started = Date.now();
    assert.ok((await partnerInputsFromStore(late.pool, 'ETH/USD', T, own, 300)).every((v) => v === null));
    assert.ok(Date.now() - started >= 300);
  });

  it('has no inputs for a pair without a partner', async () => {
    const store = pool(0, true);
    assert.ok((await partnerInputsFromStore(store.pool, 'SOL/USD', T, own, 2_000)).every((v) => v === null));
    assert.equal(store.queries(), 0);
  });
});
