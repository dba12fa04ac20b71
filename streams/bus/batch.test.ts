import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TickcastError } from '../../lib/errors.ts';
import { TOPICS } from '../../schema/topics.ts';
import { registry } from '../../lib/metrics.ts';
import { applyBatch } from './batch.ts';
import type { InboundRecord, OutboundRecord, StatefulProcessor } from './bus.ts';

const record = (offset: number, value: string): InboundRecord => ({
  topic: 'in',
  partition: 0,
  offset: String(offset),
  key: 'k',
  value: Buffer.from(value),
});

async function processed(processor: string, outcome: string): Promise<number> {
  const metric = await registry.getSingleMetric('tickcast_processor_records_total')?.get();
  return metric?.values.find((v) => v.labels['processor'] === processor && v.labels['outcome'] === outcome)?.value ?? 0;
}

describe('applyBatch', () => {
  it('applies records in order, sync or async, dead-letters bad ones, and counts both', async () => {
    const processor: StatefulProcessor<{ seen: string[] }> = {
      name: 'batch-test',
      inputs: ['in'],
      stateSchema: undefined as never,
      initialState: () => ({ seen: [] }),
      process(state, r): OutboundRecord[] | Promise<OutboundRecord[]> {
        const value = r.value!.toString();
        if (value === 'bad') throw new TickcastError('INVALID_EVENT', 'bad record');
        state.seen.push(value);
        const out = [{ topic: 'out', key: 'k', value }];
        return value.startsWith('async') ? Promise.resolve(out) : out;
      },
    };
    let beats = 0;
    const { outputs, changed } = await applyBatch(
      processor,
      new Map(),
      [record(0, 'a'), record(1, 'bad'), record(2, 'async-b'), record(3, 'c')],
      () => {
        beats++;
        return beats === 2 ? Promise.resolve() : undefined;
      },
    );
    assert.deepEqual(
      outputs.map((o) => [o.topic, o.topic === 'out' ? o.value : (o.value as { offset: string }).offset]),
      [
        ['out', 'a'],
        [TOPICS.deadLetters.name, '1'],
        ['out', 'async-b'],
        ['out', 'c'],
      ],
    );
    assert.deepEqual(changed.get('k'), { seen: ['a', 'async-b', 'c'] });
    assert.equal(beats, 4);
    assert.equal(await processed('batch-test', 'applied'), 3);
    assert.equal(await processed('batch-test', 'dead-lettered'), 1);
  });

  it('stops at a failed heartbeat, before the next record', async () => {
    const seen: string[] = [];
    const processor: StatefulProcessor<null> = {
      name: 'batch-test-beat',
      inputs: ['in'],
      stateSchema: undefined as never,
      initialState: () => null,
      process(_state, r) {
        seen.push(r.value!.toString());
        return [];
      },
    };
    let beats = 0;
    await assert.rejects(
      applyBatch(processor, new Map(), [record(0, 'a'), record(1, 'b')], () =>
        ++beats === 2 ? Promise.reject(new Error('rebalancing')) : undefined,
      ),
      /rebalancing/,
    );
    assert.deepEqual(seen, ['a']);
  });
});
