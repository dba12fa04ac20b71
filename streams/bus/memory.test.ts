import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue } from '../../lib/metrics.ts';
import type { InboundRecord } from './bus.ts';
import { MemoryBus } from './memory.ts';

const TOPIC = 'test.memory.v1';
const records = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ topic: TOPIC, key: 'k', value: { n: from + i } }));

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('MemoryBus retention and lag', () => {
  it('with dropConsumed, lets go of what every running consumer handled, and only that', async () => {
    const bus = new MemoryBus({ dropConsumed: true });
    const fast: InboundRecord[] = [];
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let slowHandled = 0;
    await bus.ensureTopics([{ name: TOPIC, partitions: 1 } as never]);
    await bus.consume({
      groupId: 'fast',
      topics: [TOPIC],
      fromBeginning: true,
      handler: async (batch) => void fast.push(...batch),
    });
    // The slow group handles its first batch, then waits: nothing after its offset may go.
    await bus.consume({
      groupId: 'slow',
      topics: [TOPIC],
      fromBeginning: true,
      handler: async (batch) => {
        slowHandled += batch.length;
        if (slowHandled > 500) await gate; // its second batch waits: offset 500
      },
    });
    await bus.publish(records(0, 3_000));
    await until(() => fast.length === 3_000, 'the fast group');
    assert.equal(bus.retained(), 3_000, 'the slow group has handled 500 records: below the drop chunk, all kept');
    assert.equal(await metricValue('tickcast_bus_memory_pending_records', { group: 'slow' }), 2_500);
    assert.equal(await metricValue('tickcast_bus_memory_pending_records', { group: 'fast' }), 0);

    openGate();
    await until(() => slowHandled === 3_000, 'the slow group');
    await bus.publish(records(3_000, 10));
    await until(() => fast.length === 3_010, 'the fast group again');
    assert.ok(bus.retained() < 1_000, `handled records let go (${bus.retained()} held)`);
    assert.equal(bus.size(TOPIC), 3_010, 'size counts every record published');
    assert.deepEqual(
      fast.map((r) => Number(r.offset)),
      Array.from({ length: 3_010 }, (_, i) => i),
      'offsets stay those of the whole log',
    );

    // A group that starts now reads from the oldest record still held.
    const late: InboundRecord[] = [];
    await bus.consume({
      groupId: 'late',
      topics: [TOPIC],
      fromBeginning: true,
      handler: async (batch) => void late.push(...batch),
    });
    await until(() => late.at(-1)?.offset === '3009', 'the late group');
    assert.equal(Number(late[0]!.offset), 3_010 - late.length);
    await bus.close();
    assert.equal(await metricValue('tickcast_bus_memory_records'), 0, 'a closed bus is not reported');
  });

  it('without dropConsumed keeps every record for groups that read the topic later', async () => {
    const bus = new MemoryBus();
    let handled = 0;
    await bus.consume({
      groupId: 'first',
      topics: [TOPIC],
      fromBeginning: true,
      handler: async (batch) => void (handled += batch.length),
    });
    await bus.publish(records(0, 2_500));
    await until(() => handled === 2_500, 'the first group');
    assert.equal(bus.retained(), 2_500);
    await bus.close();
  });
});
