import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Candle, Prediction } from '../../schema/events.ts';
import { addCandle, addPrediction, initialMonitorState } from './rolling.ts';

const T = Date.UTC(2023, 3, 4, 10, 0);
const config = { window: 3, closesRetentionMs: 3_600_000 };

const prediction = (
  id: string,
  madeAt: number,
  predicted: number,
  base = 100,
  bounds: [number, number] | null = [98, 102],
): Prediction => ({
  v: 1,
  id,
  pair: 'BTC/USD',
  horizonMinutes: 5,
  madeAt,
  targetTime: madeAt + 300_000,
  basePrice: base,
  predictedLogReturn: Math.log(predicted / base),
  predictedPrice: predicted,
  lowerBound: bounds?.[0] ?? null,
  upperBound: bounds?.[1] ?? null,
  modelName: 'tickcast-btc-usd-5m',
  modelVersion: '3',
});

const candle = (closeTime: number, close: number): Candle => ({
  v: 1,
  pair: 'BTC/USD',
  interval: '1m',
  openTime: closeTime - 60_000,
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

describe('error monitor core', () => {
  it('resolves a prediction when the candle closing at its target time arrives, and not before', () => {
    const state = initialMonitorState();
    assert.deepEqual(addPrediction(state, prediction('a', T, 101), config, T).outcomes, []);
    assert.deepEqual(addCandle(state, candle(T + 240_000, 105), config, T).outcomes, []);
    const { outcomes, performance } = addCandle(state, candle(T + 300_000, 103), config, T + 300_000);
    assert.deepEqual(
      outcomes.map((o) => [o.id, o.actualPrice, o.error]),
      [['a', 103, 2]],
    );
    assert.equal(performance[0]?.mae, 2);
    assert.equal(performance[0]?.directionalAccuracy, 1);
    assert.equal(performance[0]?.intervalCoverage, 0, '103 is outside [98, 102]');
    assert.equal(state.pending.length, 0);
  });

  it('resolves a prediction that arrives after its close is known', () => {
    const state = initialMonitorState();
    addCandle(state, candle(T + 300_000, 99), config, T);
    const { outcomes } = addPrediction(state, prediction('late', T, 101), config, T);
    assert.deepEqual(
      outcomes.map((o) => o.error),
      [-2],
    );
  });

  it('keeps a rolling window: MAE, RMSE, flat moves excluded from direction, coverage', () => {
    const state = initialMonitorState();
    const errors = [
      { id: 'p1', predicted: 101, actual: 100 }, // flat actual move: no direction
      { id: 'p2', predicted: 99, actual: 102 }, // wrong direction, abs error 3
      { id: 'p3', predicted: 104, actual: 103 }, // right direction, abs error 1
      { id: 'p4', predicted: 101, actual: 101 }, // right direction, abs error 0, evicts p1
    ];
    let last;
    for (const [i, e] of errors.entries()) {
      const madeAt = T + i * 60_000;
      addPrediction(state, prediction(e.id, madeAt, e.predicted), config, madeAt);
      last = addCandle(state, candle(madeAt + 300_000, e.actual), config, madeAt + 300_000).performance[0];
    }
    assert.equal(last?.count, 3);
    assert.equal(last?.mae, (3 + 1 + 0) / 3);
    assert.equal(last?.rmse, Math.sqrt((9 + 1 + 0) / 3));
    assert.equal(last?.directionalAccuracy, 2 / 3);
    assert.equal(last?.intervalCoverage, 2 / 3, '103 is outside [98, 102]');
  });

  it('keeps closes for predictions lagging behind the candles, and drops those no later prediction can target', () => {
    const state = initialMonitorState();
    // Ten minutes of candles before any prediction (a replay: candles run ahead).
    for (let m = 1; m <= 10; m++) addCandle(state, candle(T + m * 60_000, 100 + m), config, T + m * 60_000);
    const { outcomes } = addPrediction(state, prediction('p', T + 5 * 60_000, 100), config, T + 5 * 60_000);
    assert.deepEqual(
      outcomes.map((o) => o.actualPrice),
      [110],
    );
    // Predictions arrive in the order they were made: closes at or before the newest made time are no later target.
    assert.deepEqual(
      state.closes.map(([time]) => (time - T) / 60_000),
      [6, 7, 8, 9, 10],
    );
    addCandle(state, candle(T + 11 * 60_000, 111), config, T + 11 * 60_000);
    assert.equal(state.closes.length, 6, 'a new close is kept for the predictions still to come');
  });

  it('tracks an adaptive interval half-width per version from the half-width each prediction was issued with', () => {
    const state = initialMonitorState();
    // Issued with [98, 102] around 100: half-width ln(102/100) in log-return space.
    const issued = Math.log(102 / 100);
    const step = 0.005 * issued; // DEFAULT_GAMMA × the starting half-width
    addPrediction(state, prediction('miss', T, 100), config, T);
    const missed = addCandle(state, candle(T + 300_000, 103), config, T + 300_000).performance[0];
    // A miss widens it by γ·s·(1 − α).
    assert.ok(Math.abs((missed?.adaptiveHalfWidth ?? NaN) - (issued + step * 0.9)) < 1e-15);
    addPrediction(state, prediction('hit', T + 60_000, 100), config, T + 60_000);
    const hit = addCandle(state, candle(T + 360_000, 100.5), config, T + 360_000).performance[0];
    // A hit narrows it by γ·s·α.
    assert.ok(Math.abs((hit?.adaptiveHalfWidth ?? NaN) - (issued + step * 0.9 - step * 0.1)) < 1e-15);
    // Predictions without an interval leave no tracker.
    const bare = initialMonitorState();
    addPrediction(bare, prediction('none', T, 100, 100, null), config, T);
    assert.equal(
      addCandle(bare, candle(T + 300_000, 101), config, T + 300_000).performance[0]?.adaptiveHalfWidth,
      null,
    );
  });
});
