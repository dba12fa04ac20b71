import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { candleSchema, marketEventSchema } from '../../schema/events.ts';
import { quickCandle, quickMarketEvent } from './quick-check.ts';

/** Values a field may be broken to (or set to another valid value); 1e400 parses to Infinity. */
const PROBES: readonly unknown[] = [
  0,
  -0,
  1,
  -1,
  0.5,
  2 ** 53 - 1,
  2 ** 53,
  JSON.parse('1e400'),
  JSON.parse('-1e400'),
  '',
  '1',
  'BTC/USD',
  'btc/usd',
  'B/USD',
  'ABCDEFGHIJK/USD',
  'BTC/USD\n',
  '1m',
  '15m',
  '1h',
  '1d',
  '0m',
  '1s',
  '1mm',
  'trade',
  'clock',
  'buy',
  'sell',
  'BUY',
  'kraken-ws',
  'kraken-rest',
  'replay-candles',
  'replay-recording',
  'simulated',
  'other',
  null,
  true,
  false,
  [],
  {},
];

const trade = {
  v: 1,
  kind: 'trade',
  pair: 'BTC/USD',
  tradeId: 42,
  price: 64_000.5,
  qty: 0.0125,
  side: 'buy',
  time: 1_700_000_000_000,
  source: 'kraken-ws',
};
const clock = { v: 1, kind: 'clock', pair: 'ETH/USD', time: 1_700_000_060_000, source: 'replay-candles' };
const candle = {
  v: 1,
  pair: 'BTC/USD',
  interval: '5m',
  openTime: 1_700_000_100_000,
  closeTime: 1_700_000_400_000,
  open: 64_000,
  high: 64_100,
  low: 63_900,
  close: 64_050,
  volume: 1.5,
  quoteVolume: 96_000,
  vwap: 64_000,
  tradeCount: 12,
  flat: false,
  final: true,
};

/** Every variant of `base` with one field probed, removed, or one key added (through JSON, as the bus sees it). */
function variants(base: Record<string, unknown>): unknown[] {
  const out: unknown[] = [base];
  for (const key of Object.keys(base)) {
    for (const probe of PROBES) out.push({ ...base, [key]: probe });
    const { [key]: _removed, ...without } = base;
    out.push(without);
  }
  out.push({ ...base, extra: 1 });
  out.push(JSON.parse(`{"__proto__":{"v":1},${JSON.stringify(base).slice(1)}`));
  out.push(null, 1, 'x', [base]);
  return out.map((value) => JSON.parse(JSON.stringify(value) ?? 'null') as unknown);
}

/** The quick check never disagrees with zod, and answers for every valid value without extra keys. */
function assertAgrees<T>(schema: z.ZodType<T>, quick: (json: unknown) => T | undefined, bases: object[]): number {
  let answered = 0;
  for (const base of bases) {
    for (const value of variants(base as Record<string, unknown>)) {
      const expected = schema.safeParse(value);
      const actual = quick(value);
      const label = JSON.stringify(value);
      if (actual !== undefined) {
        answered++;
        assert.ok(expected.success, `quick check accepted what zod rejects: ${label}`);
        assert.deepStrictEqual(actual, expected.data, label);
      } else if (
        expected.success &&
        Object.keys(value as object).length === Object.keys(expected.data as object).length
      ) {
        assert.fail(`quick check left a well-formed value to zod: ${label}`);
      }
    }
  }
  return answered;
}

describe('quick checks agree with the zod schemas', () => {
  it('market events: trades (every side) and clocks', () => {
    const answered = assertAgrees(marketEventSchema, quickMarketEvent, [
      trade,
      { ...trade, side: null },
      { ...trade, side: 'sell', time: 0, tradeId: 0 },
      clock,
    ]);
    assert.ok(answered > 50, `only ${answered} values took the fast path`);
  });

  it('candles', () => {
    const answered = assertAgrees(candleSchema, quickCandle, [
      candle,
      { ...candle, interval: '1m', volume: 0, quoteVolume: 0, tradeCount: 0, flat: true, final: false },
    ]);
    assert.ok(answered > 50, `only ${answered} values took the fast path`);
  });
});
