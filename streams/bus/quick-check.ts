/**
 * Hand-written checks for the two hottest schemas (market events into the candles
 * processor, candles into the indicators processor), for `decodeValue`'s fast path.
 *
 * zod's `safeParse` was the largest single cost per trade: it walks the schema and copies
 * every accepted object. These checks accept exactly what the zod schemas in
 * schema/events.ts accept, but only when the value carries no key the schema would strip;
 * then the parsed JSON is already what zod would return and is returned as is. For
 * anything else they return undefined and zod decides, so a rejection keeps zod's
 * message. quick-check.test.ts holds them to the schemas: for valid values and for every
 * field broken in many ways, a quick answer is always zod's.
 */
import type { Candle, MarketEvent } from '../../schema/events.ts';

/** pairSchema's pattern. */
const PAIR = /^[A-Z0-9]{2,10}\/[A-Z0-9]{2,10}$/;
/** intervalSchema's pattern. */
const INTERVAL = /^[1-9][0-9]*[mhd]$/;
const SOURCES: ReadonlySet<unknown> = new Set([
  'kraken-ws',
  'kraken-rest',
  'replay-candles',
  'replay-recording',
  'simulated',
]);

const TRADE_KEYS = 9;
const CLOCK_KEYS = 5;
const CANDLE_KEYS = 15;

/** z.number().int().nonnegative(): zod's int is a safe integer. */
const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
/** z.number().finite().positive() */
const isPositive = (x: unknown): boolean => Number.isFinite(x) && (x as number) > 0;
/** z.number().finite().nonnegative() */
const isNonNegative = (x: unknown): boolean => Number.isFinite(x) && (x as number) >= 0;
const isPair = (x: unknown): boolean => typeof x === 'string' && PAIR.test(x);

type Fields = Record<string, unknown>;

const isRecord = (json: unknown): json is Fields => typeof json === 'object' && json !== null && !Array.isArray(json);

/** The count makes "every schema key checked" mean "no other key": JSON.parse gives own keys only. */
const keyCount = (value: Fields): number => Object.keys(value).length;

/** `marketEventSchema`'s answer for a well-formed event without extra keys, else undefined. */
export function quickMarketEvent(json: unknown): MarketEvent | undefined {
  if (!isRecord(json) || json['v'] !== 1 || !isPair(json['pair']) || !isCount(json['time'])) return undefined;
  if (!SOURCES.has(json['source'])) return undefined;
  if (json['kind'] === 'trade') {
    const side = json['side'];
    const ok =
      isCount(json['tradeId']) &&
      isPositive(json['price']) &&
      isPositive(json['qty']) &&
      (side === null || side === 'buy' || side === 'sell') &&
      keyCount(json) === TRADE_KEYS;
    return ok ? (json as unknown as MarketEvent) : undefined;
  }
  if (json['kind'] === 'clock' && keyCount(json) === CLOCK_KEYS) return json as unknown as MarketEvent;
  return undefined;
}

/** `candleSchema`'s answer for a well-formed candle without extra keys, else undefined. */
export function quickCandle(json: unknown): Candle | undefined {
  if (!isRecord(json)) return undefined;
  const interval = json['interval'];
  const ok =
    json['v'] === 1 &&
    isPair(json['pair']) &&
    typeof interval === 'string' &&
    INTERVAL.test(interval) &&
    isCount(json['openTime']) &&
    isCount(json['closeTime']) &&
    isPositive(json['open']) &&
    isPositive(json['high']) &&
    isPositive(json['low']) &&
    isPositive(json['close']) &&
    isNonNegative(json['volume']) &&
    isNonNegative(json['quoteVolume']) &&
    isPositive(json['vwap']) &&
    isCount(json['tradeCount']) &&
    typeof json['flat'] === 'boolean' &&
    typeof json['final'] === 'boolean' &&
    keyCount(json) === CANDLE_KEYS;
  return ok ? (json as unknown as Candle) : undefined;
}
