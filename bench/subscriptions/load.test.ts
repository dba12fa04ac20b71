import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientPool } from './load.ts';
import { fewestPerClient } from './measure.ts';

const spec = {
  url: 'ws://127.0.0.1:9/graphql', // never dialled: the pool has no clients
  query: 'subscription { predictionCreated(pair: "BTC/USD") { id madeAt } }',
  count: 0,
  localAddress: '127.0.0.1',
  warm: 'warm-',
  timed: 'timed-',
  federated: false,
};

test('a load generator without clients reports no fewest-per-client, not 0', async () => {
  // One client over two load generators leaves the second one empty.
  const pool = new ClientPool(spec);
  await pool.connect();
  const report = pool.report();
  assert.equal(report.minPerClient, null);
  assert.equal(report.maxPerClient, null);
  await pool.disconnect();
});

test('the fewest events one client got ignores pools without clients', () => {
  assert.equal(fewestPerClient([{ minPerClient: 10 }, { minPerClient: null }]), 10);
  assert.equal(fewestPerClient([{ minPerClient: 7 }, { minPerClient: 10 }]), 7);
  assert.ok(Number.isNaN(fewestPerClient([{ minPerClient: null }])));
});
