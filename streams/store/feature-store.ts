/**
 * Writes and reads candles and indicators. Writes are upserts keyed by
 * (pair, interval, open_time), so re-delivered records (at-least-once consumers,
 * restarts) rewrite the same row instead of adding one.
 */
import type pg from 'pg';
import type { Candle, IndicatorSet, Trade } from '../../schema/events.ts';
import { INDICATOR_NAMES } from '../../schema/indicators.ts';

/** Rows per INSERT: keeps each statement well under Postgres' 65,535 bind parameters. */
const ROWS_PER_STATEMENT = 500;

const CANDLE_COLUMNS = [
  'pair',
  'interval',
  'open_time',
  'close_time',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'quote_volume',
  'vwap',
  'trade_count',
  'flat',
] as const;

const INDICATOR_COLUMNS = ['pair', 'interval', 'open_time', 'close', ...INDICATOR_NAMES] as const;

function candleRow(c: Candle): unknown[] {
  return [
    c.pair,
    c.interval,
    new Date(c.openTime),
    new Date(c.closeTime),
    c.open,
    c.high,
    c.low,
    c.close,
    c.volume,
    c.quoteVolume,
    c.vwap,
    c.tradeCount,
    c.flat,
  ];
}

function indicatorRow(s: IndicatorSet): unknown[] {
  return [s.pair, s.interval, new Date(s.openTime), s.close, ...INDICATOR_NAMES.map((n) => s.values[n] ?? null)];
}

/** Last write per key wins inside one statement too: Postgres refuses to update a row twice in one INSERT. */
function lastPerKey<T extends { pair: string; interval: string; openTime: number }>(items: readonly T[]): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) byKey.set(`${item.pair}|${item.interval}|${item.openTime}`, item);
  return [...byKey.values()];
}

async function upsert(pool: pg.Pool, table: string, columns: readonly string[], rows: unknown[][]): Promise<void> {
  const updates = columns
    .filter((c) => !['pair', 'interval', 'open_time'].includes(c))
    .map((c) => `${c} = EXCLUDED.${c}`)
    .concat('written_at = now()')
    .join(', ');
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(start, start + ROWS_PER_STATEMENT);
    const values: unknown[] = [];
    const tuples = chunk.map((row) => {
      const params = row.map((value) => {
        values.push(value);
        return `$${values.length}`;
      });
      return `(${params.join(', ')})`;
    });
    await pool.query(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')} ` +
        `ON CONFLICT (pair, interval, open_time) DO UPDATE SET ${updates}`,
      values,
    );
  }
}

export async function upsertCandles(pool: pg.Pool, candles: readonly Candle[]): Promise<void> {
  await upsert(pool, 'candles', CANDLE_COLUMNS, lastPerKey(candles).map(candleRow));
}

export async function upsertIndicators(pool: pg.Pool, sets: readonly IndicatorSet[]): Promise<void> {
  await upsert(pool, 'indicators', INDICATOR_COLUMNS, lastPerKey(sets).map(indicatorRow));
}

/** Trades keep the first write: a trade id is immutable on the exchange, so a re-delivery changes nothing. */
export async function insertTrades(pool: pg.Pool, trades: readonly Trade[]): Promise<void> {
  for (let start = 0; start < trades.length; start += ROWS_PER_STATEMENT) {
    const chunk = trades.slice(start, start + ROWS_PER_STATEMENT);
    const values: unknown[] = [];
    const tuples = chunk.map((t) => {
      values.push(t.pair, t.tradeId, t.price, t.qty, t.side, new Date(t.time), t.source);
      const n = values.length;
      return `($${n - 6}, $${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}, $${n})`;
    });
    await pool.query(
      `INSERT INTO trades (pair, trade_id, price, qty, side, time, source) VALUES ${tuples.join(', ')} ON CONFLICT (pair, trade_id) DO NOTHING`,
      values,
    );
  }
}

export interface StoredCandle {
  readonly pair: string;
  readonly interval: string;
  readonly openTime: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly vwap: number;
  readonly tradeCount: number;
  readonly flat: boolean;
}

export async function readCandles(
  pool: pg.Pool,
  query: { pair: string; interval: string; from: number; to: number },
): Promise<StoredCandle[]> {
  const { rows } = await pool.query<StoredCandle>(
    // Cast in SQL so the result does not depend on process-wide pg type parsers.
    `SELECT pair, interval, (extract(epoch FROM open_time) * 1000)::float8 AS "openTime",
            open::float8 AS open, high::float8 AS high, low::float8 AS low, close::float8 AS close,
            volume::float8 AS volume, vwap, trade_count AS "tradeCount", flat
       FROM candles
      WHERE pair = $1 AND interval = $2 AND open_time >= $3 AND open_time < $4
      ORDER BY open_time`,
    [query.pair, query.interval, new Date(query.from), new Date(query.to)],
  );
  return rows;
}
