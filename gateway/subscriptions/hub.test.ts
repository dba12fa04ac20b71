import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExecutionResult, FormattedExecutionResult } from 'graphql';
import pino from 'pino';
import { ChannelOverflow } from '../../lib/channel.ts';
import { SubscriptionHub, type Upstream } from './hub.ts';
import type { SubscriptionPlan, UpstreamOperation } from './planner.ts';

type Sink = Parameters<Upstream['subscribe']>[1];

/** Records upstream subscriptions and lets the test push events into them. */
class FakeUpstream implements Upstream {
  readonly open = new Map<number, { operation: UpstreamOperation; sink: Sink }>();
  started = 0;
  subscribe(operation: UpstreamOperation, sink: Sink): () => void {
    const id = ++this.started;
    this.open.set(id, { operation, sink });
    return () => this.open.delete(id);
  }
  emit(event: FormattedExecutionResult): void {
    for (const { sink } of this.open.values()) sink.next(event);
  }
}

const operation: UpstreamOperation = { subgraph: 'predictions', query: 'subscription { p { id } }', variables: {} };

/** A plan whose resolution counts calls and tags the event with the selection. */
function plan(selection: string, calls: { n: number }, upstream = operation): SubscriptionPlan {
  return {
    upstream,
    federated: true,
    resolve: async (event) => {
      calls.n++;
      return { data: { ...(event.data as Record<string, unknown>), selection } };
    },
  };
}

const hub = (upstream: Upstream, clientBuffer = 10) =>
  new SubscriptionHub(upstream, {
    clientBuffer,
    maxPendingEvents: 100,
    context: {},
    logger: pino({ level: 'silent' }),
  });

const settle = () => new Promise((resolve) => setImmediate(resolve));

async function take(iterator: AsyncIterableIterator<ExecutionResult>, n: number): Promise<ExecutionResult[]> {
  const values: ExecutionResult[] = [];
  while (values.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    values.push(next.value);
  }
  return values;
}

test('clients of one operation share one upstream stream and one resolution per event', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  let planned = 0;
  const clients = Array.from({ length: 100 }, () =>
    subscriptions.subscribe({
      selectionKey: 'A',
      plan: () => (planned++, plan('A', calls)),
      onSlowConsumer: () => assert.fail('nobody is slow'),
    }),
  );
  assert.equal(upstream.started, 1);
  assert.equal(planned, 1, 'planned once for the selection');
  upstream.emit({ data: { p: { id: '1' } } });
  upstream.emit({ data: { p: { id: '2' } } });
  for (const client of clients) {
    assert.deepEqual(
      (await take(client, 2)).map((r) => r.data),
      [
        { p: { id: '1' }, selection: 'A' },
        { p: { id: '2' }, selection: 'A' },
      ],
    );
  }
  assert.equal(calls.n, 2, 'one resolution per event, not per client');
  assert.deepEqual(subscriptions.stats, { streams: 1, groups: 1, clients: 100 });
});

test('different selections over the same primary share the stream but resolve separately', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const a = { n: 0 };
  const b = { n: 0 };
  const clientA = subscriptions.subscribe({ selectionKey: 'A', plan: () => plan('A', a), onSlowConsumer: () => {} });
  const clientB = subscriptions.subscribe({ selectionKey: 'B', plan: () => plan('B', b), onSlowConsumer: () => {} });
  assert.equal(upstream.started, 1);
  upstream.emit({ data: { p: { id: '1' } } });
  assert.equal((await take(clientA, 1))[0]?.data?.['selection'], 'A');
  assert.equal((await take(clientB, 1))[0]?.data?.['selection'], 'B');
  assert.deepEqual([a.n, b.n], [1, 1]);
});

test('the upstream stream ends as soon as the last client leaves, and restarts for a new one', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  const first = subscriptions.subscribe({ selectionKey: 'A', plan: () => plan('A', calls), onSlowConsumer: () => {} });
  const second = subscriptions.subscribe({ selectionKey: 'A', plan: () => plan('A', calls), onSlowConsumer: () => {} });
  await first.return?.();
  assert.equal(upstream.open.size, 1, 'one client still listening');
  await second.return?.();
  assert.equal(upstream.open.size, 0, 'closed with the last client');
  assert.deepEqual(subscriptions.stats, { streams: 0, groups: 0, clients: 0 });
  subscriptions.subscribe({ selectionKey: 'A', plan: () => plan('A', calls), onSlowConsumer: () => {} });
  assert.equal(upstream.started, 2);
});

test('a slow client is cut off at its buffer while the others keep receiving', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream, 5);
  const calls = { n: 0 };
  let slowCut = 0;
  let ended = 0;
  const slow = subscriptions.subscribe({
    selectionKey: 'A',
    plan: () => plan('A', calls),
    onSlowConsumer: () => slowCut++,
    onEnd: () => ended++,
  });
  const fast = subscriptions.subscribe({ selectionKey: 'A', plan: () => plan('A', calls), onSlowConsumer: () => {} });
  const received: unknown[] = [];
  const reading = (async () => {
    for await (const result of fast) {
      received.push(result.data);
      if (received.length === 20) break;
    }
  })();
  for (let i = 0; i < 20; i++) {
    upstream.emit({ data: { p: { id: String(i) } } });
    await settle();
  }
  await reading;
  assert.equal(received.length, 20, 'the fast client got every event');
  assert.equal(slowCut, 1);
  assert.equal(ended, 1);
  await assert.rejects(slow.next(), ChannelOverflow);
});

test('an unavailable subgraph reaches its clients as an error event; the stream stays open', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  const client = subscriptions.subscribe({ selectionKey: 'A', plan: () => plan('A', calls), onSlowConsumer: () => {} });
  subscriptions.subgraphUnavailable('markets');
  subscriptions.subgraphUnavailable('predictions');
  const [unavailable] = await take(client, 1);
  assert.equal(unavailable?.errors?.[0]?.extensions['code'], 'SUBGRAPH_UNAVAILABLE');
  assert.equal(unavailable?.errors?.[0]?.extensions['serviceName'], 'predictions');
  upstream.emit({ data: { p: { id: '9' } } });
  assert.deepEqual((await take(client, 1))[0]?.data, { p: { id: '9' }, selection: 'A' });
});

test('an upstream error fails its clients; completeAll completes the rest', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  const failing = subscriptions.subscribe({
    selectionKey: 'A',
    plan: () => plan('A', calls),
    onSlowConsumer: () => {},
  });
  const other = subscriptions.subscribe({
    selectionKey: 'B',
    plan: () => plan('B', calls, { ...operation, variables: { pair: 'ETH/USD' } }),
    onSlowConsumer: () => {},
  });
  assert.equal(upstream.started, 2, 'other variables, other upstream stream');
  upstream.open.get(1)?.sink.error(new Error('socket reset'));
  await assert.rejects(failing.next(), /ended the subscription/);
  subscriptions.completeAll();
  assert.deepEqual(await other.next(), { value: undefined, done: true });
  assert.equal(upstream.open.size, 0);
});

test('clients that take bytes share one serialisation per event and group; their iterator only ends', async () => {
  const upstream = new FakeUpstream();
  const encoded: ExecutionResult[] = [];
  const subscriptions = new SubscriptionHub(upstream, {
    clientBuffer: 10,
    maxPendingEvents: 100,
    context: {},
    logger: pino({ level: 'silent' }),
    encode: (result) => (encoded.push(result), Buffer.from(JSON.stringify(result))),
  });
  const calls = { n: 0 };
  const writes: Buffer[][] = [];
  const clients = Array.from({ length: 3 }, (_, i) => {
    writes.push([]);
    return subscriptions.subscribe({
      selectionKey: 'A',
      plan: () => plan('A', calls),
      onSlowConsumer: () => assert.fail('nobody is slow'),
      write: (bytes) => writes[i]!.push(...bytes),
    });
  });
  upstream.emit({ data: { p: { id: '1' } } });
  upstream.emit({ data: { p: { id: '2' } } });
  await settle();
  assert.equal(encoded.length, 2, 'serialised once per event, not per client');
  for (const clientWrites of writes) {
    assert.deepEqual(
      clientWrites.map((bytes) => JSON.parse(bytes.toString())),
      [
        { data: { p: { id: '1' } }, selection: 'A' },
        { data: { p: { id: '2' } }, selection: 'A' },
      ].map(({ data, selection }) => ({ data: { ...data, selection } })),
    );
  }
  assert.equal(writes[0]![0], writes[2]![0], 'every client writes the same Buffer');
  // A client that left gets nothing more; the others do.
  await clients[1]!.return?.();
  upstream.emit({ data: { p: { id: '3' } } });
  await settle();
  assert.deepEqual(
    writes.map((w) => w.length),
    [3, 2, 3],
  );
  subscriptions.completeAll();
  assert.deepEqual(await clients[0]!.next(), { value: undefined, done: true }, 'no event went through the iterator');
});

test('events resolved while a delivery is under way go to each client together, in order, in one write', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = new SubscriptionHub(upstream, {
    clientBuffer: 10,
    maxPendingEvents: 100,
    context: {},
    logger: pino({ level: 'silent' }),
    encode: (result) => Buffer.from(JSON.stringify(result.data)),
  });
  const calls = { n: 0 };
  // More clients than one delivery slice: the first event's delivery spans macrotasks.
  const writes: string[][][] = Array.from({ length: 1_200 }, () => []);
  writes.forEach((clientWrites) =>
    subscriptions.subscribe({
      selectionKey: 'A',
      plan: () => plan('A', calls),
      onSlowConsumer: () => assert.fail('nobody is slow'),
      write: (bytes) => clientWrites.push(bytes.map((b) => (JSON.parse(b.toString()) as { p: { id: string } }).p.id)),
    }),
  );
  upstream.emit({ data: { p: { id: '1' } } });
  await new Promise((resolve) => process.nextTick(resolve));
  upstream.emit({ data: { p: { id: '2' } } });
  upstream.emit({ data: { p: { id: '3' } } });
  for (let i = 0; i < 10; i++) await settle();
  for (const clientWrites of writes) assert.deepEqual(clientWrites, [['1'], ['2', '3']]);
  assert.equal(calls.n, 3, 'each event resolved once');
});
