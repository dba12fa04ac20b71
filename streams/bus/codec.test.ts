import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tradeSchema } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { decodeValue, encodeValue } from './codec.ts';

const record = (value: Buffer | null) => ({ topic: 't', partition: 0, offset: '7', key: 'BTC/USD', value });
const isInvalid = (pattern: RegExp) => (e: unknown) =>
  e instanceof TickcastError && e.code === 'INVALID_EVENT' && !e.retriable && pattern.test(e.message);

/** A valid trade event. */
const trade = {
  v: 1,
  kind: 'trade',
  pair: 'BTC/USD',
  tradeId: 1,
  price: 1,
  qty: 1,
  side: null,
  time: 0,
  source: 'simulated',
} as const;

describe('bus codec', () => {
  it('round-trips a valid event', () => {
    assert.deepEqual(decodeValue(tradeSchema, record(encodeValue(trade))), trade);
  });

  it('rejects bytes that are not JSON, saying where they came from', () => {
    assert.throws(() => decodeValue(tradeSchema, record(Buffer.from('{"price": 1'))), isInvalid(/^t@0:7 is not JSON/));
  });

  it('rejects a missing value and names every failing field', () => {
    assert.throws(() => decodeValue(tradeSchema, record(null)), isInvalid(/has no value/));
    assert.throws(
      () =>
        decodeValue(
          tradeSchema,
          record(encodeValue({ v: 1, kind: 'trade', pair: 'BTC/USD', tradeId: 1, price: -1, qty: null })),
        ),
      isInvalid(/price: .*; qty: /),
    );
  });

  it("returns a quick check's answer, and lets zod decide and explain when it has none", () => {
    const answer = { quick: true };
    const quick = (json: unknown) => ((json as { price?: unknown }).price === 1 ? (answer as never) : undefined);
    assert.equal(decodeValue(tradeSchema, record(encodeValue(trade)), quick), answer);
    assert.throws(
      () => decodeValue(tradeSchema, record(encodeValue({ ...trade, price: -1 })), quick),
      isInvalid(/price: /),
    );
  });
});
