import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { deadLetterSchema, type Prediction, type PredictionOutcome as OutcomeEvent } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { samplePrediction } from '../../test/support/events.ts';
import { MemoryBus } from '../bus/memory.ts';
import { PredictionsNotStored, type PredictionOutcome, type PredictionStore } from './store.ts';
import { startPredictionsWriter } from './writer.ts';

const logger = pino({ level: 'silent' });

const prediction = (minute: number): Prediction => samplePrediction('BTC/USD', minute);

function outcome(p: Prediction): OutcomeEvent {
  return {
    v: 1,
    id: p.id,
    pair: p.pair,
    horizonMinutes: 1,
    modelName: 'm',
    modelVersion: '1',
    targetTime: p.targetTime,
    predictedPrice: 100,
    actualPrice: 101,
    error: 1,
  };
}

/** An in-memory store that, like the real ones, refuses outcomes for predictions it does not hold. */
class MapStore implements PredictionStore {
  readonly predictions = new Map<string, Prediction>();
  readonly outcomes = new Map<string, PredictionOutcome>();
  async ensureSchema() {}
  async writePredictions(predictions: readonly Prediction[]) {
    for (const p of predictions) this.predictions.set(p.id, p);
  }
  async recordOutcomes(outcomes: readonly PredictionOutcome[]) {
    const missing = outcomes.filter((o) => !this.predictions.has(o.id)).map((o) => o.id);
    for (const o of outcomes) if (this.predictions.has(o.id)) this.outcomes.set(o.id, o);
    if (missing.length > 0) throw new PredictionsNotStored(missing);
  }
  async writePerformance() {}
  async pendingDue() {
    return [];
  }
  async close() {}
}

const until = async (what: string, probe: () => boolean, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

test('an outcome that overtakes its prediction waits for it instead of failing the writer', async () => {
  const bus = new MemoryBus();
  const store = new MapStore();
  const writer = await startPredictionsWriter(bus, store, logger);
  const p = prediction(0);
  await bus.publish([{ topic: TOPICS.predictionOutcomes.name, key: p.pair, value: outcome(p) }]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(store.outcomes.size, 0, 'nothing to update yet');
  await bus.publish([{ topic: TOPICS.predictions.name, key: p.pair, value: p }]);
  await until('the outcome recorded', () => store.outcomes.has(p.id));
  assert.equal(store.outcomes.get(p.id)?.actualPrice, 101);
  await writer.stop();
  await bus.close();
});

test('an outcome whose prediction never arrives is dead-lettered after the wait, the others recorded', async () => {
  const bus = new MemoryBus();
  const store = new MapStore();
  const writer = await startPredictionsWriter(bus, store, logger, { outcomeWaitMs: 300 });
  const stored = prediction(1);
  const orphan = prediction(2);
  await bus.publish([{ topic: TOPICS.predictions.name, key: stored.pair, value: stored }]);
  await until('the prediction stored', () => store.predictions.has(stored.id));
  await bus.publish(
    [stored, orphan].map((p) => ({ topic: TOPICS.predictionOutcomes.name, key: p.pair, value: outcome(p) })),
  );
  const letters: unknown[] = [];
  const reader = await bus.consume({
    groupId: 'test-dead-letters',
    topics: [TOPICS.deadLetters.name],
    fromBeginning: true,
    handler: async (records) => {
      for (const r of records) letters.push(deadLetterSchema.parse(JSON.parse(r.value!.toString())));
    },
  });
  await until('the orphan dead-lettered', () => letters.length === 1);
  assert.ok(store.outcomes.has(stored.id));
  assert.equal(store.outcomes.has(orphan.id), false);
  assert.deepEqual(
    letters.map((l) => [(l as { code: string }).code, (l as { key: string }).key]),
    [['NOT_YET_STORED', orphan.pair]],
  );
  await reader.stop();
  await writer.stop();
  await bus.close();
});
