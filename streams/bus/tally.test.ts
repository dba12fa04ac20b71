import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { tally } from './tally.ts';

describe('tally', () => {
  it('applies every increment, per label set, before anything can read the registry', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'tally_test_total',
      help: 'test',
      labelNames: ['pair', 'outcome'],
      registers: [registry],
    });
    const seen = tally(counter, ['pair', 'outcome']);
    for (let i = 0; i < 5; i++) seen(['BTC/USD', 'applied']);
    seen(['BTC/USD', 'duplicate'], 3);
    seen(['ETH/USD', 'applied']);
    const values = async () =>
      Object.fromEntries(
        (await counter.get()).values.map((v) => [
          `${String(v.labels['pair'])} ${String(v.labels['outcome'])}`,
          v.value,
        ]),
      );
    assert.deepEqual(await values(), { 'BTC/USD applied': 5, 'BTC/USD duplicate': 3, 'ETH/USD applied': 1 });
    // A second batch adds to the first.
    seen(['BTC/USD', 'applied']);
    assert.deepEqual(await values(), { 'BTC/USD applied': 6, 'BTC/USD duplicate': 3, 'ETH/USD applied': 1 });
  });

  it('keeps label sets of three labels apart', async () => {
    const counter = new Counter({
      name: 'tally_test_three_total',
      help: 'test',
      labelNames: ['pair', 'interval', 'flat'],
      registers: [new Registry()],
    });
    const emitted = tally(counter, ['pair', 'interval', 'flat']);
    emitted(['BTC/USD', '1m', 'false']);
    emitted(['BTC/USD', '1m', 'true']);
    emitted(['BTC/USD', '5m', 'false'], 2);
    emitted(['BTC/USD', '1m', 'false']);
    const values = (await counter.get()).values.map((v) => [
      `${String(v.labels['pair'])} ${String(v.labels['interval'])} ${String(v.labels['flat'])}`,
      v.value,
    ]);
    assert.deepEqual(Object.fromEntries(values), {
      'BTC/USD 1m false': 2,
      'BTC/USD 1m true': 1,
      'BTC/USD 5m false': 2,
    });
  });
});
