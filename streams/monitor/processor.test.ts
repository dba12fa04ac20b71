import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../bus/memory.ts';
import { TOPICS } from '../../schema/topics.ts';
import {
  modelAlertSchema,
  modelPerformanceSchema,
  type Candle,
  type ModelAlert,
  type Prediction,
} from '../../schema/events.ts';
import { decodeValue } from '../bus/codec.ts';
import { errorMonitorProcessor } from './processor.ts';

const T = Date.UTC(2023, 3, 4, 10, 0);
const PAIR = 'BTC/USD';

const prediction = (i: number, predicted: number): Prediction => ({
  v: 1,
  id: `p${i}`,
  pair: PAIR,
  horizonMinutes: 1,
  madeAt: T + i * 60_000,
  targetTime: T + (i + 1) * 60_000,
  basePrice: 100,
  predictedLogReturn: Math.log(predicted / 100),
  predictedPrice: predicted,
  lowerBound: null,
  upperBound: null,
  modelName: 'tickcast-btc-usd-1m',
  modelVersion: '7',
});

const candle = (closeTime: number, close: number): Candle => ({
  v: 1,
  pair: PAIR,
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

describe('error monitor processor', () => {
  it('raises one drift alert with a retraining recommendation when rolling MAE exceeds the training MAE by the factor', async () => {
    const bus = new MemoryBus();
    const task = await bus.runStateful(
      errorMonitorProcessor({
        window: 10,
        closesRetentionMs: 3_600_000,
        alertFactor: 2,
        minOutcomes: 3,
        trainingMae: async (name, version) => (name === 'tickcast-btc-usd-1m' && version === '7' ? 1 : null),
      }),
    );
    const alerts: ModelAlert[] = [];
    const consumer = await bus.consume({
      groupId: 'test',
      topics: [TOPICS.modelAlerts.name],
      fromBeginning: true,
      handler: async (records) => void alerts.push(...records.map((r) => decodeValue(modelAlertSchema, r))),
    });
    // Errors of 1, 1, then 5, 5, 5: at the third outcome (the minimum) the rolling MAE is 7/3 > 2 x 1, and stays above.
    const errors = [1, 1, 5, 5, 5];
    for (const [i, error] of errors.entries()) {
      await bus.publish([
        { topic: TOPICS.predictions.name, key: PAIR, value: prediction(i, 100 - error) },
        { topic: TOPICS.candles.name, key: PAIR, value: candle(T + (i + 1) * 60_000, 100) },
      ]);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    await consumer.stop();
    await task.stop();
    assert.equal(alerts.length, 1, 'one alert per drift episode');
    assert.equal(alerts[0]?.rollingMae, (1 + 1 + 5) / 3);
    assert.equal(alerts[0]?.trainingMae, 1);
    assert.match(alerts[0]?.recommendation ?? '', /retrain with `tickcast train --pair BTC\/USD --horizon 1`/);
  });

  it('dates the rolling performance at the target close whichever of prediction and candle arrives last', async () => {
    const updatedAt: number[] = [];
    for (const candleFirst of [false, true]) {
      const bus = new MemoryBus();
      const task = await bus.runStateful(
        errorMonitorProcessor({
          window: 10,
          closesRetentionMs: 3_600_000,
          alertFactor: 2,
          minOutcomes: 3,
          trainingMae: async () => null,
        }),
      );
      const consumer = await bus.consume({
        groupId: 'test',
        topics: [TOPICS.modelPerformance.name],
        fromBeginning: true,
        handler: async (records) =>
          void updatedAt.push(...records.map((r) => decodeValue(modelPerformanceSchema, r).updatedAt)),
      });
      const inputs = [
        { topic: TOPICS.predictions.name, key: PAIR, value: prediction(0, 99) },
        { topic: TOPICS.candles.name, key: PAIR, value: candle(T + 60_000, 100) },
      ];
      for (const input of candleFirst ? inputs.reverse() : inputs) {
        await bus.publish([input]);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await consumer.stop();
      await task.stop();
    }
    assert.deepEqual(updatedAt, [T + 60_000, T + 60_000]);
  });
});
