import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Channel, ChannelOverflow } from './channel.ts';

async function drain<T>(channel: Channel<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of channel) values.push(value);
  return values;
}

test('values pushed before and while reading arrive in order, then the stream ends on close', async () => {
  const channel = new Channel<number>(10);
  channel.push(1);
  channel.push(2);
  const read = drain(channel);
  await Promise.resolve();
  channel.push(3);
  channel.close();
  assert.deepEqual(await read, [1, 2, 3]);
  assert.equal(channel.push(4), false, 'a closed channel drops values');
});

test('more than capacity waiting values fail the channel with ChannelOverflow and run onClose once', async () => {
  let closes = 0;
  const channel = new Channel<number>(3, () => closes++);
  for (let i = 0; i < 3; i++) assert.equal(channel.push(i), true);
  assert.equal(channel.push(3), false);
  assert.equal(channel.isClosed, true);
  await assert.rejects(channel.next(), (error: unknown) => error instanceof ChannelOverflow && error.capacity === 3);
  channel.close();
  assert.equal(closes, 1);
});

test('a waiting reader does not count against capacity', async () => {
  const channel = new Channel<number>(1);
  const first = channel.next();
  assert.equal(channel.push(1), true);
  assert.equal(channel.push(2), true);
  assert.deepEqual(await first, { value: 1, done: false });
  assert.equal(channel.size, 1);
});

test('a reader that leaves (return) closes the channel and runs onClose', async () => {
  let closed = false;
  const channel = new Channel<number>(5, () => (closed = true));
  channel.push(1);
  for await (const value of channel) {
    assert.equal(value, 1);
    break;
  }
  assert.equal(closed, true);
  assert.equal(channel.push(2), false);
});

test('fail rejects a waiting reader', async () => {
  const channel = new Channel<number>(5);
  const pending = channel.next();
  channel.fail(new Error('upstream gone'));
  await assert.rejects(pending, /upstream gone/);
});

test('onTake reports how long each value waited since it was produced', async () => {
  const waits: number[] = [];
  const channel = new Channel<number>(10, { onTake: (ms) => waits.push(ms) });
  channel.push(1, Date.now() - 2_000);
  await channel.next();
  const pending = channel.next();
  channel.push(2, Date.now() - 500);
  await pending;
  assert.equal(waits.length, 2);
  assert.ok(waits[0]! >= 2_000 && waits[0]! < 3_000, String(waits[0]));
  assert.ok(waits[1]! >= 500 && waits[1]! < 1_500, String(waits[1]));
});
