/** Real candle data sliced for e2e tests, and SQL that checks the feature store against it. */
import type pg from 'pg';
import type { MarketEvent } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { loadCandleCsv, type OhlcMinute } from '../../lib/candle-csv.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import { BTC_CANDLES, FULL_DAY, requireData } from './data.ts';

export async function loadDay(file: string, day: { from: number; to: number }): Promise<OhlcMinute[]> {
  return (await loadCandleCsv(requireData(file))).filter((r) => r.time >= day.from && r.time < day.to);
}

/**
 * The trades (and clocks) that replay the real BTC/USD day `FULL_DAY` as `pair`: a test that
 * registers a model under a name of its own replays the same real day under its own pair.
 */
export async function dayEvents(pair = 'BTC/USD'): Promise<MarketEvent[]> {
  const events: MarketEvent[] = [];
  await replayCandles(await loadDay(BTC_CANDLES, FULL_DAY), async (batch) => void events.push(...batch), {
    pair,
    speed: 0,
  });
  return events;
}

/** Publishes market events to the trades topic, keyed by pair as the sources do. */
export function publishEvents(bus: Bus, events: readonly MarketEvent[]): Promise<void> {
  return bus.publish(events.map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value })));
}

/** Loads the input minutes into `input_minutes` in the pool's schema, for independent SQL aggregation. */
export async function loadInputMinutes(pool: pg.Pool, rows: readonly OhlcMinute[]): Promise<void> {
  await pool.query(`CREATE TABLE input_minutes (
    open_time TIMESTAMPTZ PRIMARY KEY, open NUMERIC, high NUMERIC, low NUMERIC, close NUMERIC,
    volume NUMERIC, trade_count INTEGER)`);
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    const values: unknown[] = [];
    const tuples = chunk.map((r) => {
      values.push(new Date(r.time), r.open, r.high, r.low, r.close, r.volume, r.count);
      const n = values.length;
      return `($${n - 6}, $${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}, $${n})`;
    });
    await pool.query(`INSERT INTO input_minutes VALUES ${tuples.join(', ')}`, values);
  }
}

const BUCKET: Record<string, string> = { '5m': '5 minutes', '15m': '15 minutes', '1h': '1 hour' };

/**
 * Rows where a stored candle of `interval` differs from the aggregation of the input
 * minutes in SQL (first open, max high, min low, last close, sum volume, sum count),
 * in either direction (missing, extra, or different).
 */
export async function rollupMismatches(pool: pg.Pool, pair: string, interval: string): Promise<unknown[]> {
  const bucket = BUCKET[interval];
  if (!bucket) throw new Error(`no SQL bucket for ${interval}`);
  const { rows } = await pool.query(
    `WITH expected AS (
       SELECT date_bin($2::interval, open_time, TIMESTAMPTZ 'epoch') AS open_time,
              (array_agg(open ORDER BY open_time))[1] AS open,
              max(high) AS high, min(low) AS low,
              (array_agg(close ORDER BY open_time DESC))[1] AS close,
              sum(volume) AS volume, sum(trade_count)::int AS trade_count
         FROM input_minutes GROUP BY 1),
     actual AS (
       SELECT open_time, open, high, low, close, volume, trade_count
         FROM candles WHERE pair = $1 AND interval = $3)
     SELECT 'expected' AS side, * FROM (SELECT * FROM expected EXCEPT SELECT * FROM actual) e
     UNION ALL
     SELECT 'actual' AS side, * FROM (SELECT * FROM actual EXCEPT SELECT * FROM expected) a`,
    [pair, bucket, interval],
  );
  return rows;
}

/** Rows where stored one-minute candles differ from the input minutes, either way. */
export async function minuteMismatches(pool: pg.Pool, pair: string): Promise<unknown[]> {
  const { rows } = await pool.query(
    `WITH expected AS (
       SELECT open_time, open, high, low, close, volume, trade_count, trade_count = 0 AS flat FROM input_minutes),
     actual AS (
       SELECT open_time, open, high, low, close, volume, trade_count, flat
         FROM candles WHERE pair = $1 AND interval = '1m')
     SELECT 'expected' AS side, * FROM (SELECT * FROM expected EXCEPT SELECT * FROM actual) e
     UNION ALL
     SELECT 'actual' AS side, * FROM (SELECT * FROM actual EXCEPT SELECT * FROM expected) a`,
    [pair],
  );
  return rows;
}

export async function countRows(pool: pg.Pool, table: 'candles' | 'indicators', interval?: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table}${interval ? ' WHERE interval = $1' : ''}`,
    interval ? [interval] : [],
  );
  return rows[0]?.n ?? 0;
}
