import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TickcastError } from '../../lib/errors.ts';
import { TOPICS } from '../../schema/topics.ts';
import { registry } from '../../lib/metrics.ts';
import { applyBatch, taskStateStores } from './batch.ts';
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

describe('taskStateStores: the states of the tasks one replica runs', () => {
  const windowed = (maxKeys: number | undefined) =>
    ({ name: 'window-test', maxKeys }) as unknown as StatefulProcessor<number>;

  it('bounds all the tasks together, forgetting the least recently used key of any task, reported to its own task', () => {
    const stores = taskStateStores(windowed(3));
    const evicted: string[] = [];
    const a = stores.forTask(0, (key) => evicted.push(`0:${key}`));
    const b = stores.forTask(1, (key) => evicted.push(`1:${key}`));
    a.set('x', 1);
    b.set('y', 2);
    a.set('z', 3);
    assert.equal(a.get('x'), 1); // x is now more recent than y
    b.set('w', 4);
    assert.deepEqual(evicted, ['1:y']);
    assert.equal(b.get('y'), undefined);
    assert.deepEqual([a.size, b.size], [2, 1]);
    // Replacing a state is not an eviction and keeps the count.
    a.set('x', 5);
    assert.deepEqual([a.size, b.size, evicted.length], [2, 1, 1]);
  });

  it('keeps the same key apart in two tasks, and a cleared task leaves room without reporting evictions', () => {
    const stores = taskStateStores(windowed(4));
    const evicted: string[] = [];
    const a = stores.forTask(0, (key) => evicted.push(`0:${key}`));
    const b = stores.forTask(1, (key) => evicted.push(`1:${key}`));
    a.set('k', 1);
    b.set('k', 2);
    assert.deepEqual([a.get('k'), b.get('k')], [1, 2]);
    a.set('m', 3);
    a.clear();
    assert.deepEqual([a.size, a.get('k'), b.get('k')], [0, undefined, 2]);
    for (const key of ['p', 'q', 'r']) b.set(key, 0);
    assert.deepEqual(evicted, []);
    assert.equal(b.size, 4);
  });

  it('keeps every state of every task without maxKeys', () => {
    const stores = taskStateStores(windowed(undefined));
    const a = stores.forTask(0, () => assert.fail('nothing is evicted'));
    for (let i = 0; i < 1000; i++) a.set(String(i), i);
    assert.equal(a.size, 1000);
    a.clear();
    assert.equal(a.size, 0);
  });
});
