/**
 * One scenario of bad market input, run on both buses: malformed records, NaN and
 * negative prices, a wrong key, duplicates, out-of-order and late trades, mixed with
 * good trades. Returns what came out so tests can check nothing good was lost.
 */
import { candleSchema, deadLetterSchema, type Candle, type DeadLetter, type Trade } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, InboundRecord, OutboundRecord } from '../../streams/bus/bus.ts';
import { decodeValue } from '../../streams/bus/codec.ts';

export const PAIR = 'BTC/USD';
export const T0 = Date.UTC(2023, 3, 4, 10, 0);

function trade(tradeId: number, offsetMs: number, price: number, qty = 1): Trade {
  return {
    v: 1,
    kind: 'trade',
    pair: PAIR,
    tradeId,
    price,
    qty,
    side: 'buy',
    time: T0 + offsetMs,
    source: 'kraken-ws',
  };
}

const raw = (value: unknown): OutboundRecord => ({ topic: TOPICS.marketEvents.name, key: PAIR, value });

/** The one-minute candles the good trades must produce, whatever the bad ones did. */
export const EXPECTED_MINUTES = [
  { openTime: T0, open: 95, high: 110, low: 95, close: 110, volume: 3, tradeCount: 3 },
  { openTime: T0 + 60_000, open: 120, high: 121, low: 120, close: 121, volume: 2, tradeCount: 2 },
];

/** Records in publish order; `expectedDeadLetters` lists the codes they must produce (sorted). */
export function badInputRecords(): { records: OutboundRecord[]; expectedDeadLetters: string[] } {
  const records: OutboundRecord[] = [
    raw(trade(1, 1_000, 100)),
    raw(trade(2, 30_000, 110)),
    // Not a market event at all (a JSON string; non-JSON bytes are covered in codec.test.ts).
    raw('{"this is": "not json'),
    // NaN cannot travel in JSON: JSON.stringify turns it into null, which the schema refuses.
    raw({ ...trade(3, 31_000, Number.NaN) }),
    raw({ ...trade(4, 32_000, -5) }),
    raw({ ...trade(5, 33_000, 100, 0) }),
    // Keyed by one pair, carrying another.
    { topic: TOPICS.marketEvents.name, key: 'ETH/USD', value: trade(6, 34_000, 100) },
    // Duplicate of trade 2 (same id), inside the open minute.
    raw(trade(2, 30_000, 110)),
    // Out of order: trade 7 happened before trade 1, in the still-open minute: it becomes the open.
    raw(trade(7, 500, 95)),
    raw(trade(8, 61_000, 120)),
    raw(trade(9, 63_000, 121)),
    // Minute 0 closed at 62 s (60 s + 2 s lateness): a new id for it is late, an old id a replay.
    raw(trade(10, 59_000, 130)),
    raw(trade(1, 1_000, 100)),
    raw(trade(11, 125_000, 122)),
  ];
  return {
    records,
    expectedDeadLetters: [
      'INVALID_EVENT',
      'INVALID_EVENT',
      'INVALID_EVENT',
      'INVALID_EVENT',
      'INVALID_EVENT',
      'LATE_TRADE',
    ],
  };
}

export interface Outcome {
  readonly minutes: Pick<Candle, 'openTime' | 'open' | 'high' | 'low' | 'close' | 'volume' | 'tradeCount'>[];
  readonly deadLetters: DeadLetter[];
}

/**
 * Publishes the scenario and collects the candles and dead letters it produces, until
 * both expected counts arrived (or `timeoutMs` passed).
 */
export async function runBadInput(bus: Bus, group: string, timeoutMs: number): Promise<Outcome> {
  const candles: Candle[] = [];
  const deadLetters: DeadLetter[] = [];
  let arrived: () => void = () => undefined;
  const complete = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const check = (): void => {
    if (candles.filter((c) => c.interval === '1m').length >= 2 && deadLetters.length >= 6) arrived();
  };
  const collect = (records: readonly InboundRecord[]): void => {
    for (const record of records) {
      if (record.topic === TOPICS.candles.name) candles.push(decodeValue(candleSchema, record));
      else deadLetters.push(decodeValue(deadLetterSchema, record));
    }
    check();
  };
  const consumer = await bus.consume({
    groupId: group,
    topics: [TOPICS.candles.name, TOPICS.deadLetters.name],
    fromBeginning: true,
    handler: async (records) => collect(records),
  });
  await bus.publish(badInputRecords().records);
  const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([complete, timer]);
  // Give a wrongly emitted extra record the chance to show up.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await consumer.stop();
  return {
    minutes: candles
      .filter((c) => c.interval === '1m')
      .map(({ openTime, open, high, low, close, volume, tradeCount }) => ({
        openTime,
        open,
        high,
        low,
        close,
        volume,
        tradeCount,
      })),
    deadLetters,
  };
}
