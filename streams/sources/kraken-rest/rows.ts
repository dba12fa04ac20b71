/**
 * Kraken's Trades and OHLC answers read into tickcast values: one row at a time, refusing
 * anything malformed with a reason (counted by the caller), and the `result` object split into
 * the pair's rows and the `last` cursor.
 *
 *  - Trades rows: [price, volume, time (float seconds), "b"|"s", "m"|"l", misc, trade_id].
 *    https://docs.kraken.com/api/docs/rest-api/get-recent-trades/
 *  - OHLC rows: [time, open, high, low, close, vwap, volume, count] (strings except time and
 *    count). https://docs.kraken.com/api-reference/market-data/get-ohlc-data.md
 */
import { z } from 'zod';
import { tradeSchema, type Pair, type Trade } from '../../../schema/events.ts';

/** The `source` of every event the REST backfill emits, and its metrics label. */
export const KRAKEN_REST_SOURCE = 'kraken-rest' as const;

/** One candle as served by Kraken's OHLC endpoint, with time converted to epoch ms. */
export interface OhlcRow {
  /** Candle open time, epoch ms. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  vwap: number;
  volume: number;
  count: number;
}

const decimal = z.string().regex(/^\d+(\.\d+)?$/, 'a decimal string');
const secondsValue = z.union([z.number(), z.string()]);

/** Float seconds (number or string) to epoch ms, truncating below the millisecond. */
export function secondsToMs(value: number | string): number | null {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value.trim();
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (m) return Number(m[1]) * 1000 + Number(`${m[2] ?? ''}000`.slice(0, 3));
  // Kraken writes times as plain decimals; Number() would also read "0x1A", "1e3" or "Infinity".
  if (typeof value === 'string') return null;
  const n = Number(text);
  return text !== '' && Number.isFinite(n) && n >= 0 ? Math.floor(n * 1000) : null;
}

export type RejectReason = 'bad_shape' | 'invalid_price' | 'invalid_qty' | 'bad_timestamp' | 'invalid_trade';
export type RowResult<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

function positiveDecimal(value: unknown): number | null {
  if (typeof value !== 'string' || !decimal.safeParse(value).success) return null;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** One row of the Trades result to a tickcast Trade. */
export function parseTradeRow(row: unknown, pair: Pair): RowResult<Trade> {
  if (!Array.isArray(row) || row.length < 7) {
    return {
      ok: false,
      reason: 'bad_shape',
      detail: 'trade row is not [price, volume, time, side, type, misc, trade_id]',
    };
  }
  const [priceRaw, volumeRaw, timeRaw, sideRaw, , , idRaw] = row as unknown[];
  if (typeof idRaw !== 'number' || !Number.isInteger(idRaw) || idRaw < 0) {
    return {
      ok: false,
      reason: 'bad_shape',
      detail: `trade_id ${JSON.stringify(idRaw)} is not a non-negative integer`,
    };
  }
  if (sideRaw !== 'b' && sideRaw !== 's')
    return { ok: false, reason: 'bad_shape', detail: `side ${JSON.stringify(sideRaw)} is not "b" or "s"` };
  const price = positiveDecimal(priceRaw);
  if (price === null)
    return { ok: false, reason: 'invalid_price', detail: `price ${JSON.stringify(priceRaw)} (trade_id ${idRaw})` };
  const qty = positiveDecimal(volumeRaw);
  if (qty === null)
    return { ok: false, reason: 'invalid_qty', detail: `volume ${JSON.stringify(volumeRaw)} (trade_id ${idRaw})` };
  const t = secondsValue.safeParse(timeRaw);
  const time = t.success ? secondsToMs(t.data) : null;
  if (time === null)
    return { ok: false, reason: 'bad_timestamp', detail: `time ${JSON.stringify(timeRaw)} (trade_id ${idRaw})` };
  const trade = tradeSchema.safeParse({
    v: 1,
    kind: 'trade',
    pair,
    tradeId: idRaw,
    price,
    qty,
    side: sideRaw === 'b' ? 'buy' : 'sell',
    time,
    source: KRAKEN_REST_SOURCE,
  });
  if (!trade.success)
    return { ok: false, reason: 'invalid_trade', detail: z.prettifyError(trade.error).replace(/\n/g, '; ') };
  return { ok: true, value: trade.data };
}

/** One row of the OHLC result to an OhlcRow. */
export function parseOhlcRow(row: unknown): RowResult<OhlcRow> {
  if (!Array.isArray(row) || row.length < 8) {
    return {
      ok: false,
      reason: 'bad_shape',
      detail: 'OHLC row is not [time, open, high, low, close, vwap, volume, count]',
    };
  }
  const [timeRaw, o, h, l, c, vw, vol, countRaw] = row as unknown[];
  // In milliseconds it must still be an exact integer: an absurd time would read as "past the end" and stop a backfill.
  if (
    typeof timeRaw !== 'number' ||
    !Number.isInteger(timeRaw) ||
    timeRaw < 0 ||
    !Number.isSafeInteger(timeRaw * 1000)
  ) {
    return { ok: false, reason: 'bad_timestamp', detail: `time ${JSON.stringify(timeRaw)}` };
  }
  const prices = [o, h, l, c, vw].map(positiveDecimal);
  if (prices.some((p) => p === null))
    return {
      ok: false,
      reason: 'invalid_price',
      detail: `OHLC prices ${JSON.stringify([o, h, l, c, vw])} at ${timeRaw}`,
    };
  const volume = typeof vol === 'string' && decimal.safeParse(vol).success ? Number(vol) : NaN;
  if (!Number.isFinite(volume) || volume < 0)
    return { ok: false, reason: 'invalid_qty', detail: `volume ${JSON.stringify(vol)} at ${timeRaw}` };
  if (typeof countRaw !== 'number' || !Number.isInteger(countRaw) || countRaw < 0) {
    return { ok: false, reason: 'bad_shape', detail: `count ${JSON.stringify(countRaw)} at ${timeRaw}` };
  }
  const [open, high, low, close, vwap] = prices as [number, number, number, number, number];
  return { ok: true, value: { time: timeRaw * 1000, open, high, low, close, vwap, volume, count: countRaw } };
}

/** Splits `result` into the pair's rows (whatever key Kraken used) and `last` as a string. */
export function splitResult(result: Record<string, unknown>): { rows: unknown[]; last: string | null } {
  let rows: unknown[] = [];
  for (const [key, value] of Object.entries(result)) {
    if (key !== 'last' && Array.isArray(value)) {
      rows = value;
      break;
    }
  }
  const last = result['last'];
  return { rows, last: typeof last === 'string' || typeof last === 'number' ? String(last) : null };
}
