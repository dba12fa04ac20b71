import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../lib/backoff.ts';
import { reconnectPolicy, webSocketUrl } from './upstream.ts';

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
