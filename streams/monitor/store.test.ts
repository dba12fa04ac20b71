import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../lib/logger.ts';
import type { Candle, Prediction } from '../../schema/events.ts';
import { openMigratedMemoryStore } from '../store/memory-store.ts';
import { upsertCandles } from '../store/feature-store.ts';
import { PostgresPredictionStore } from '../predictions-store/postgres.ts';
import { addCandle } from './rolling.ts';
import { monitorStatesFromStore } from './store.ts';

const logger = createLogger('silent');
const T = Date.UTC(2023, 3, 4, 10, 0);
const MINUTE = 60_000;
const PAIR = 'BTC/USD';
const config = { window: 4, closesRetentionMs: 6 * 3_600_000, maxPending: 100 };

const prediction = (i: number, predicted: number): Prediction => ({
  v: 1,
  id: `p${i}`,
  pair: PAIR,
  horizonMinutes: 1,
  madeAt: T + i * MINUTE,
  targetTime: T + (i + 1) * MINUTE,
  basePrice: 100,
  predictedLogReturn: Math.log(predicted / 100),
  predictedPrice: predicted,
  lowerBound: 90,
  upperBound: 110,
  modelName: 'tickcast-btc-usd-1m',
  modelVersion: '7',
});

const candle = (closeTime: number, close: number): Candle => ({
  v: 1,
  pair: PAIR,
  interval: '1m',
  openTime: closeTime - MINUTE,
  closeTime,
  open: close,
  high: close,
  low: close,
  close,
  volume: 1,
  quoteVolume: close,
  vwap: close,
  tradeCount: 1,
  flat: false,
  final: true,
});

describe('error monitor state rebuilt from the store', () => {
  it('refills the rolling windows, keeps the pending predictions still due, and counts go on from there', async () => {
    const database = await openMigratedMemoryStore(logger);
    try {
      const store = new PostgresPredictionStore({ pool: database.pool, logger });
      // Six resolved (more than the window of 4), one whose close is stored but outcome not
      // (it cannot resolve any more), one still due after the newest stored close.
      const predictions = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => prediction(i, 101 + i));
      await store.writePredictions(predictions);
      await store.recordOutcomes(
        predictions.slice(0, 6).map((p, i) => ({ id: p.id, actualPrice: 102, error: 102 - (101 + i) })),
      );
      await upsertCandles(database.pool, [candle(T + 7 * MINUTE, 102)]);

      const states = await monitorStatesFromStore(database.pool, config);
      const state = states.get(PAIR);
      assert.ok(state, 'a state for the pair');
      const [key, samples] = Object.entries(state.windows)[0] ?? [];
      assert.equal(key, `tickcast-btc-usd-1m|7|${PAIR}|1`);
      // The newest four outcomes, oldest first: predicted 103..106 against 102.
      assert.deepEqual(
        samples?.map((s) => s.absError),
        [1, 2, 3, 4],
      );
      assert.ok(samples?.every((s) => s.covered === true && s.directionCorrect === true));
      assert.deepEqual(
        state.pending.map((p) => p.id),
        ['p7'],
      );

      // The next outcome joins the restored window: the count published stays at the window, never restarts at 1.
      const next = addCandle(state, candle(T + 8 * MINUTE, 108), config, T + 8 * MINUTE);
      assert.deepEqual(
        next.outcomes.map((o) => o.id),
        ['p7'],
      );
      assert.equal(next.performance[0]?.count, 4);
      assert.equal(next.performance[0]?.mae, (2 + 3 + 4 + 0) / 4);
    } finally {
      await database.close();
    }
  });
});
