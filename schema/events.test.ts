import assert from 'node:assert/strict';
import { test } from 'node:test';
import { indicatorSetSchema } from './events.ts';

const set = (values: unknown): unknown =>
  JSON.parse(JSON.stringify({ v: 1, pair: 'BTC/USD', interval: '1m', openTime: 0, close: 100, values }));

test('indicator values: any name to a finite number or null, as a record of them takes, names kept', () => {
  const parsed = indicatorSetSchema.parse(set({ sma_20: 101, rsi_14: null, not_yet_named: 0.5 }));
  assert.deepEqual(parsed.values, { sma_20: 101, rsi_14: null, not_yet_named: 0.5 });
  assert.deepEqual(indicatorSetSchema.parse(set({})).values, {});
  for (const values of [{ sma_20: 'x' }, { not_yet_named: 'x' }, { not_yet_named: true }, [1], null, 'x']) {
    assert.equal(indicatorSetSchema.safeParse(set(values)).success, false, JSON.stringify(values));
  }
  // JSON writes a non-finite number as null; an object that kept one is refused.
  assert.equal(
    indicatorSetSchema.safeParse({ ...(set({}) as object), values: { not_yet_named: Infinity } }).success,
    false,
  );
});
