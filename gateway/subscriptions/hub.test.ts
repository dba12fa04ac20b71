import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExecutionResult, FormattedExecutionResult } from 'graphql';
import pino from 'pino';
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

const logger = pino({ level: 'silent' });

/** Serialises results as their JSON, counting calls. */
const encoder = () => {
  const encoded: ExecutionResult[] = [];
  return { encoded, encode: (result: ExecutionResult) => (encoded.push(result), Buffer.from(JSON.stringify(result))) };
};

const hub = (upstream: Upstream, encode = encoder().encode) =>
  new SubscriptionHub(upstream, { maxPendingEvents: 100, context: {}, logger, encode });

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A client subscription that records what is written to it: the results, and each write's Buffers. */
function subscriber(
  subscriptions: SubscriptionHub,
  selectionKey: string,
  planFor: () => SubscriptionPlan,
  write?: (encoded: readonly Buffer[]) => void,
) {
  const received: ExecutionResult[] = [];
  const writes: (readonly Buffer[])[] = [];
  let ended = 0;
  const iterator = subscriptions.subscribe({
    selectionKey,
    plan: planFor,
    onEnd: () => ended++,
    write: (encoded) => {
      writes.push(encoded);
      for (const bytes of encoded) received.push(JSON.parse(bytes.toString()) as ExecutionResult);
      write?.(encoded);
    },
  });
  return {
    iterator,
    received,
    writes,
    get ended() {
      return ended;
    },
  };
}

/** Waits (a bounded number of turns) until `client` has received `n` results. */
async function received(client: { received: ExecutionResult[] }, n: number): Promise<ExecutionResult[]> {
  for (let turn = 0; turn < 100 && client.received.length < n; turn++) await settle();
  return client.received;
}

test('clients of one operation share one upstream stream and one resolution per event', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  let planned = 0;
  const clients = Array.from({ length: 100 }, () =>
    subscriber(subscriptions, 'A', () => (planned++, plan('A', calls))),
  );
  assert.equal(upstream.started, 1);
  assert.equal(planned, 1, 'planned once for the selection');
  upstream.emit({ data: { p: { id: '1' } } });
  upstream.emit({ data: { p: { id: '2' } } });
  for (const client of clients) {
    assert.deepEqual(
      (await received(client, 2)).map((r) => r.data),
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
  const clientA = subscriber(subscriptions, 'A', () => plan('A', a));
  const clientB = subscriber(subscriptions, 'B', () => plan('B', b));
  assert.equal(upstream.started, 1);
  upstream.emit({ data: { p: { id: '1' } } });
  assert.equal((await received(clientA, 1))[0]?.data?.['selection'], 'A');
  assert.equal((await received(clientB, 1))[0]?.data?.['selection'], 'B');
  assert.deepEqual([a.n, b.n], [1, 1]);
});

test('the upstream stream ends as soon as the last client leaves, and restarts for a new one', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  const first = subscriber(subscriptions, 'A', () => plan('A', calls));
  const second = subscriber(subscriptions, 'A', () => plan('A', calls));
  await first.iterator.return?.();
  assert.equal(upstream.open.size, 1, 'one client still listening');
  await second.iterator.return?.();
  assert.equal(upstream.open.size, 0, 'closed with the last client');
  assert.deepEqual(subscriptions.stats, { streams: 0, groups: 0, clients: 0 });
  subscriber(subscriptions, 'A', () => plan('A', calls));
  assert.equal(upstream.started, 2);
});

test('a client its transport cuts off gets nothing more, even within a delivery, while the others get every event', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  // More clients than one delivery slice, so a cut lands between two slices of one delivery:
  // the first client's transport cuts the last one off (as a socket closing as a slow consumer).
  const clients: ReturnType<typeof subscriber>[] = [];
  clients.push(
    subscriber(
      subscriptions,
      'A',
      () => plan('A', calls),
      () => void clients.at(-1)!.iterator.return?.(),
    ),
  );
  for (let i = 1; i < 1_200; i++) clients.push(subscriber(subscriptions, 'A', () => plan('A', calls)));
  const cut = clients.at(-1)!;
  for (let i = 0; i < 3; i++) upstream.emit({ data: { p: { id: String(i) } } });
  for (const client of clients.slice(0, -1)) {
    assert.deepEqual(
      (await received(client, 3)).map((r) => (r.data?.['p'] as { id: string }).id),
      ['0', '1', '2'],
    );
  }
  assert.deepEqual(cut.writes, [], 'cut before its turn in the first delivery');
  assert.equal(cut.ended, 1);
  assert.deepEqual(await cut.iterator.next(), { value: undefined, done: true });
  assert.equal(subscriptions.stats.clients, 1_199);
});

test('an unavailable subgraph reaches its clients as an error event; the stream stays open', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  const client = subscriber(subscriptions, 'A', () => plan('A', calls));
  subscriptions.subgraphUnavailable('markets');
  subscriptions.subgraphUnavailable('predictions');
  const [unavailable] = await received(client, 1);
  const error = unavailable?.errors?.[0] as { extensions?: Record<string, unknown> } | undefined;
  assert.equal(error?.extensions?.['code'], 'SUBGRAPH_UNAVAILABLE');
  assert.equal(error?.extensions?.['serviceName'], 'predictions');
  upstream.emit({ data: { p: { id: '9' } } });
  assert.deepEqual((await received(client, 2))[1]?.data, { p: { id: '9' }, selection: 'A' });
  assert.equal(client.received.length, 2, 'one error event: the markets subgraph has no stream here');
});

test('an upstream error fails its clients; completeAll completes the rest', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  const failing = subscriber(subscriptions, 'A', () => plan('A', calls));
  const other = subscriber(subscriptions, 'B', () =>
    plan('B', calls, { ...operation, variables: { pair: 'ETH/USD' } }),
  );
  assert.equal(upstream.started, 2, 'other variables, other upstream stream');
  upstream.open.get(1)?.sink.error(new Error('socket reset'));
  await assert.rejects(failing.iterator.next(), /ended the subscription/);
  assert.equal(failing.ended, 1);
  subscriptions.completeAll();
  assert.deepEqual(await other.iterator.next(), { value: undefined, done: true });
  assert.equal(other.ended, 1);
  assert.equal(upstream.open.size, 0);
});

test('every client of a group gets the same bytes, serialised once per event; its iterator only ends', async () => {
  const upstream = new FakeUpstream();
  const { encoded, encode } = encoder();
  const subscriptions = hub(upstream, encode);
  const calls = { n: 0 };
  const clients = Array.from({ length: 3 }, () => subscriber(subscriptions, 'A', () => plan('A', calls)));
  upstream.emit({ data: { p: { id: '1' } } });
  upstream.emit({ data: { p: { id: '2' } } });
  for (const client of clients) await received(client, 2);
  assert.equal(encoded.length, 2, 'serialised once per event, not per client');
  assert.equal(clients[0]!.writes[0]![0], clients[2]!.writes[0]![0], 'every client writes the same Buffer');
  // A client that left gets nothing more; the others do.
  await clients[1]!.iterator.return?.();
  upstream.emit({ data: { p: { id: '3' } } });
  await received(clients[0]!, 3);
  assert.deepEqual(
    clients.map((client) => client.received.length),
    [3, 2, 3],
  );
  subscriptions.completeAll();
  assert.deepEqual(
    await clients[0]!.iterator.next(),
    { value: undefined, done: true },
    'no event went through the iterator',
  );
});

test('events resolved while a delivery is under way go to each client together, in order, in one write', async () => {
  const upstream = new FakeUpstream();
  const subscriptions = hub(upstream);
  const calls = { n: 0 };
  // More clients than one delivery slice: the first event's delivery spans macrotasks.
  const clients = Array.from({ length: 1_200 }, () => subscriber(subscriptions, 'A', () => plan('A', calls)));
  upstream.emit({ data: { p: { id: '1' } } });
  await new Promise((resolve) => process.nextTick(resolve));
  upstream.emit({ data: { p: { id: '2' } } });
  upstream.emit({ data: { p: { id: '3' } } });
  for (let i = 0; i < 10; i++) await settle();
  for (const client of clients) {
    assert.deepEqual(
      client.writes.map((write) =>
        write.map((bytes) => (JSON.parse(bytes.toString()) as { data: { p: { id: string } } }).data.p.id),
      ),
      [['1'], ['2', '3']],
    );
  }
  assert.equal(calls.n, 3, 'each event resolved once');
});
