import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { backoffDelay } from '../../lib/backoff.ts';
import { freePort } from '../../test/support/ports.ts';
import { reconnectPolicy, UpstreamConnections, webSocketUrl } from './upstream.ts';

test('subgraph HTTP URLs map to WebSocket URLs on the same path', () => {
  assert.equal(webSocketUrl('http://127.0.0.1:4001/graphql'), 'ws://127.0.0.1:4001/graphql');
  assert.equal(webSocketUrl('https://markets.tickcast.svc/graphql'), 'wss://markets.tickcast.svc/graphql');
});

test('reconnect backoff doubles from 100 ms, stays within [ceiling/2, ceiling] and is capped', () => {
  const backoffMs = (retries: number, maxMs: number, random: () => number) =>
    backoffDelay(retries, reconnectPolicy(maxMs), random);
  assert.equal(
    backoffMs(0, 5_000, () => 0),
    50,
  );
  assert.equal(
    backoffMs(0, 5_000, () => 1),
    100,
  );
  assert.equal(
    backoffMs(3, 5_000, () => 1),
    800,
  );
  assert.equal(
    backoffMs(10, 5_000, () => 1),
    5_000,
  );
  assert.equal(
    backoffMs(10, 5_000, () => 0),
    2_500,
  );
  assert.equal(
    backoffMs(1_000, 5_000, () => 0.5),
    3_750,
  );
});

test('disposing while a subgraph is being reconnected to leaves no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const record = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', record);
  try {
    const upstream = new UpstreamConnections({
      // Nothing listens there: the socket is reconnecting, with backoff, when it is disposed.
      urls: { predictions: `http://127.0.0.1:${await freePort()}/graphql` },
      graceMs: 60_000,
      maxBackoffMs: 200,
      logger: pino({ level: 'silent' }),
      onUnavailable: () => undefined,
      onRecovered: () => undefined,
    });
    const end = upstream.subscribe(
      { subgraph: 'predictions', query: 'subscription { predictionCreated { id } }', variables: {} },
      { next: () => undefined, error: () => undefined, complete: () => undefined },
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    // What a gateway stopping during a subgraph outage does: its subscriptions end, then the sockets.
    end();
    upstream.dispose();
    // Past the longest reconnect wait, when the abandoned attempt settles.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', record);
  }
});
