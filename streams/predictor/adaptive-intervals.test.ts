import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelPerformance } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { InboundRecord } from '../bus/bus.ts';
import { MemoryBus } from '../bus/memory.ts';
import { AdaptiveHalfWidths } from './adaptive-intervals.ts';

const performance = (version: string, adaptiveHalfWidth: number | null | undefined): ModelPerformance => ({
  v: 1,
  modelName: 'tickcast-eth-usd-5m',
  modelVersion: version,
  pair: 'ETH/USD',
  horizonMinutes: 5,
  count: 10,
  mae: 1,
  rmse: 1,
  mape: 0.001,
  directionalAccuracy: 0.5,
  intervalCoverage: 0.9,
  ...(adaptiveHalfWidth === undefined ? {} : { adaptiveHalfWidth }),
  updatedAt: 1,
});

const record = (value: unknown): InboundRecord => ({
  topic: TOPICS.modelPerformance.name,
  partition: 0,
  offset: '0',
  key: 'k',
  value: Buffer.from(JSON.stringify(value)),
});

test('keeps the newest adaptive half-width per version, ignoring records without one and malformed ones', () => {
  const widths = new AdaptiveHalfWidths();
  widths.record([record(performance('1', 0.003)), record(performance('1', 0.0035)), record(performance('2', null))]);
  widths.record([record(performance('3', undefined)), record({ garbage: true })]);
  assert.equal(widths.get('tickcast-eth-usd-5m', '1', 'ETH/USD', 5), 0.0035);
  assert.equal(widths.get('tickcast-eth-usd-5m', '2', 'ETH/USD', 5), undefined);
  assert.equal(widths.get('tickcast-eth-usd-5m', '3', 'ETH/USD', 5), undefined);
  assert.equal(widths.get('tickcast-eth-usd-5m', '1', 'ETH/USD', 1), undefined);
});

test('follows the model-performance topic on a bus', async () => {
  const bus = new MemoryBus({ dropConsumed: true });
  await bus.ensureTopics([TOPICS.modelPerformance]);
  const widths = new AdaptiveHalfWidths();
  const task = await widths.follow(bus);
  try {
    await bus.publish([{ topic: TOPICS.modelPerformance.name, key: 'k', value: performance('7', 0.0042) }]);
    for (let i = 0; i < 100 && widths.get('tickcast-eth-usd-5m', '7', 'ETH/USD', 5) === undefined; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(widths.get('tickcast-eth-usd-5m', '7', 'ETH/USD', 5), 0.0042);
  } finally {
    await task.stop();
    await bus.close();
  }
});
