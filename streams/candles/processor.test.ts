import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../bus/memory.ts';
import { metricValue } from '../../lib/metrics.ts';
import { candlesProcessor } from './processor.ts';
import { badInputRecords, EXPECTED_MINUTES, PAIR, runBadInput } from '../../test/support/bad-input.ts';

describe('candles processor on the in-process bus', () => {
  it('dead-letters bad records, drops duplicates, applies reordering, and loses no good trade', async () => {
    const bus = new MemoryBus();
    const duplicatesBefore = await metricValue('tickcast_candles_trades_total', { pair: PAIR, outcome: 'duplicate' });
    const task = await bus.runStateful(
      candlesProcessor({ intervals: ['1m', '5m'], allowedLatenessMs: 2_000, liveUpdates: false }),
    );
    const outcome = await runBadInput(bus, 'test', 5_000);
    await task.stop();
    await bus.close();

    assert.deepEqual(outcome.minutes, EXPECTED_MINUTES);
    assert.deepEqual(outcome.deadLetters.map((d) => d.code).sort(), badInputRecords().expectedDeadLetters.sort());
    const late = outcome.deadLetters.find((d) => d.code === 'LATE_TRADE');
    assert.match(late?.message ?? '', /trade 10 .* arrived after its minute closed/);
    assert.ok(
      outcome.deadLetters.every((d) => d.value !== null && d.processor === 'candles'),
      'the raw record is kept',
    );
    assert.match(outcome.deadLetters.find((d) => d.message.includes('price'))?.message ?? '', /price/);
    const duplicates =
      (await metricValue('tickcast_candles_trades_total', { pair: PAIR, outcome: 'duplicate' })) - duplicatesBefore;
    assert.equal(duplicates, 2);
  });
});
