import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { deadLetterSchema, type Prediction, type PredictionOutcome as OutcomeEvent } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { samplePrediction } from '../../test/support/events.ts';
import { MemoryBus } from '../bus/memory.ts';
import { TickcastError } from '../../lib/errors.ts';
import { metricValue } from '../../lib/metrics.ts';
import { PredictionsNotStored, RecordsRefused, type PredictionOutcome, type PredictionStore } from './store.ts';
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

/** Dead letters on the bus, parsed, as they arrive. */
async function deadLetters(bus: MemoryBus) {
  const letters: ReturnType<typeof deadLetterSchema.parse>[] = [];
  const reader = await bus.consume({
    groupId: 'test-dead-letters',
    topics: [TOPICS.deadLetters.name],
    fromBeginning: true,
    handler: async (records) => {
      for (const r of records) letters.push(deadLetterSchema.parse(JSON.parse(r.value!.toString())));
    },
  });
  return { letters, stop: () => reader.stop() };
}

test('a prediction the store refuses for itself is dead-lettered with its reason and counted, the rest written, the batch not redelivered', async () => {
  const bus = new MemoryBus();
  const refusedId = prediction(11).id;
  let calls = 0;
  class RefusingStore extends MapStore {
    override async writePredictions(predictions: readonly Prediction[]) {
      calls++;
      if (predictions.some((p) => p.id === refusedId))
        throw new RecordsRefused(
          [{ id: refusedId, reason: '400 document_parsing_exception: failed to parse' }],
          'refused',
        );
      await super.writePredictions(predictions);
    }
  }
  const store = new RefusingStore();
  const before = await metricValue('tickcast_predictions_store_refused_total', {
    group: 'refusing',
    topic: TOPICS.predictions.name,
  });
  const writer = await startPredictionsWriter(bus, store, logger, { groupId: 'refusing' });
  const dead = await deadLetters(bus);
  const batch = [10, 11, 12].map(prediction);
  await bus.publish(batch.map((p) => ({ topic: TOPICS.predictions.name, key: p.pair, value: p })));
  await until('the refused one dead-lettered', () => dead.letters.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual([...store.predictions.keys()].sort(), [batch[0]!.id, batch[2]!.id].sort());
  assert.equal(calls, 2, 'refused once, the rest written once: not redelivered');
  assert.equal(dead.letters.length, 1);
  assert.equal(dead.letters[0]?.code, 'UPSTREAM_REJECTED');
  assert.equal(dead.letters[0]?.processor, 'refusing');
  assert.match(dead.letters[0]?.message ?? '', /document_parsing_exception/);
  assert.equal(JSON.parse(dead.letters[0]?.value ?? '{}').id, refusedId);
  assert.equal(
    await metricValue('tickcast_predictions_store_refused_total', {
      group: 'refusing',
      topic: TOPICS.predictions.name,
    }),
    before + 1,
  );
  await dead.stop();
  await writer.stop();
  await bus.close();
});

/** A store that is unavailable (a retriable error) until `available` is set. */
class FlakyStore extends MapStore {
  available = false;
  attempts = 0;
  override async writePredictions(predictions: readonly Prediction[]) {
    this.attempts++;
    if (!this.available) throw new TickcastError('UPSTREAM_UNAVAILABLE', 'elasticsearch bulk failed: ConnectionError');
    await super.writePredictions(predictions);
  }
}

test('a store unavailable within maxOutageMs holds the batch uncommitted and writes it once back', async () => {
  const bus = new MemoryBus();
  const store = new FlakyStore();
  const writer = await startPredictionsWriter(bus, store, logger, { groupId: 'flaky', maxOutageMs: 60_000 });
  const p = prediction(20);
  await bus.publish([{ topic: TOPICS.predictions.name, key: p.pair, value: p }]);
  await until('two attempts', () => store.attempts >= 2);
  assert.equal(store.predictions.size, 0);
  store.available = true;
  await until('the prediction written', () => store.predictions.has(p.id), 10_000);
  // The task did not fail meanwhile.
  assert.equal(await Promise.race([writer.done.then(() => 'done'), Promise.resolve('running')]), 'running');
  await writer.stop();
  await bus.close();
});

test('a store unavailable beyond maxOutageMs fails the task (the process exits to be restarted), nothing committed', async () => {
  const bus = new MemoryBus();
  const store = new FlakyStore();
  const writer = await startPredictionsWriter(bus, store, logger, { groupId: 'down', maxOutageMs: 300 });
  const p = prediction(30);
  await bus.publish([{ topic: TOPICS.predictions.name, key: p.pair, value: p }]);
  await assert.rejects(writer.done, (error: unknown) => {
    assert.ok(error instanceof TickcastError);
    assert.equal(error.code, 'UPSTREAM_UNAVAILABLE');
    assert.match(error.message, /beyond its bound of 0 s \(group down\)/);
    return true;
  });
  assert.equal(store.predictions.size, 0);
  await writer.stop().catch(() => undefined);
  // A writer started again (a restarted process) finds the prediction still waiting.
  store.available = true;
  const again = await startPredictionsWriter(bus, store, logger, { groupId: 'down', maxOutageMs: 300 });
  await until('the prediction written after the restart', () => store.predictions.has(p.id));
  await again.stop();
  await bus.close();
});
