/** The bad-input scenario of streams/candles/processor.test.ts, on real Kafka with the processor exactly-once. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { createBus, startProcessor } from '../../streams/runtime.ts';
import { metricValue } from '../../lib/metrics.ts';
import { badInputRecords, EXPECTED_MINUTES, PAIR, runBadInput, type Outcome } from '../support/bad-input.ts';
import { isolate, testLogger, type Isolation } from '../support/services.ts';

describe('bad market input on Kafka', () => {
  let iso: Isolation;
  let bus: Bus;
  let task: RunningTask;
  let outcome: Outcome;
  let duplicates: number;

  before(async () => {
    iso = await isolate('bad', { CANDLE_INTERVALS: '1m,5m' });
    bus = await createBus(iso.config, testLogger);
    const before = await metricValue('tickcast_candles_trades_total', { pair: PAIR, outcome: 'duplicate' });
    task = await startProcessor('candles', { config: iso.config, logger: testLogger, bus, database: undefined });
    outcome = await runBadInput(bus, 'audit', 60_000);
    duplicates = (await metricValue('tickcast_candles_trades_total', { pair: PAIR, outcome: 'duplicate' })) - before;
  });

  after(async () => {
    await task?.stop();
    await bus?.close();
    await iso?.close();
  });

  it('emits the candles of the good trades, reordered trades included, and nothing else', () => {
    assert.deepEqual(outcome.minutes, EXPECTED_MINUTES);
  });

  it('keeps each rejected record as a dead letter with its code and raw value', () => {
    assert.deepEqual(outcome.deadLetters.map((d) => d.code).sort(), badInputRecords().expectedDeadLetters.sort());
    assert.ok(outcome.deadLetters.every((d) => d.value !== null && d.topic === 'tickcast.market.events.v1'));
  });

  it('counts duplicates without emitting anything for them', () => {
    assert.equal(duplicates, 2);
  });
});
