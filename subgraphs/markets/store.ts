/**
 * SQL of the markets subgraph. Every function answers a whole batch of keys (all markets of
 * one request) with one statement, so the DataLoaders in loaders.ts issue one query per field
 * and request however many markets it asks about. Per-market limits run in a LATERAL
 * subquery over the primary key / trades_pair_time index, so each market costs an index
 * range scan whatever the size of the table.
 *
 * Times are epoch milliseconds here; resolvers.ts turns them into DateTime strings. NUMERIC
 * (prices, volumes) is cast to float8 in SQL, the correctly rounded double of the exact
 * decimal, so results do not depend on pg's global type parsers.
 */
import type pg from 'pg';

export interface TradeRow {
  readonly pair: string;
  /** BIGINT as text: an ID, never rounded through a double. */
  readonly tradeId: string;
  readonly price: number;
  readonly qty: number;
  readonly side: string | null;
  readonly time: number;
}

export interface CandleRow {
  readonly pair: string;
  readonly interval: string;
  readonly openTime: number;
  readonly closeTime: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly vwap: number;
  readonly tradeCount: number;
  readonly flat: boolean;
}

export interface TickerRow {
  readonly last: number;
  readonly open24h: number;
  readonly high24h: number;
  readonly low24h: number;
  readonly volume24h: number;
  /** Close time of the newest 1m candle: the ticker covers the 24 hours before it. */
  readonly asOf: number;
}

export interface TradesKey {
  readonly pair: string;
  readonly limit: number;
}

export interface CandlePageKey {
  readonly pair: string;
  readonly interval: string;
  /** Inclusive lower bound on open time. */
  readonly from: number | null;
  /** Exclusive upper bound on open time. */
  readonly to: number | null;
  /** Open time of the last candle of the previous page (exclusive). */
  readonly after: number | null;
  readonly limit: number;
}

export interface CandlePage {
  readonly candles: readonly CandleRow[];
  readonly hasNextPage: boolean;
}

/** The interval of the candles the ticker summarises, and its window. */
export const TICKER_INTERVAL = '1m';
export const TICKER_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Epoch ms as float8: whole milliseconds, exact in a double. */
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

const TRADE_COLUMNS = `t.pair, t.trade_id::text AS "tradeId", t.price::float8 AS price, t.qty::float8 AS qty, t.side,
  ${epochMs('t.time')} AS time`;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The configured pairs, then every other pair that has candles, alphabetically. */
export async function listPairs(pool: pg.Pool, configured: readonly string[]): Promise<string[]> {
  // A loose index scan over candles' primary key: one index probe per distinct pair, not a
  // pass over every candle.
  const { rows } = await pool.query<{ pair: string }>(
    `WITH RECURSIVE pairs AS (
       (SELECT pair FROM candles ORDER BY pair LIMIT 1)
       UNION ALL
       SELECT (SELECT c.pair FROM candles c WHERE c.pair > pairs.pair ORDER BY c.pair LIMIT 1)
         FROM pairs WHERE pairs.pair IS NOT NULL
     )
     SELECT pair FROM pairs WHERE pair IS NOT NULL`,
  );
  const known = new Set(configured);
  return [...configured, ...rows.map((r) => r.pair).filter((pair) => !known.has(pair))];
}

/** For each pair: is it a market tickcast knows (configured, or with candles stored)? */
export async function knownPairs(
  pool: pg.Pool,
  configured: ReadonlySet<string>,
  pairs: readonly string[],
): Promise<boolean[]> {
  const others = pairs.filter((pair) => !configured.has(pair));
  const stored = new Set<string>();
  if (others.length > 0) {
    const { rows } = await pool.query<{ pair: string }>(
      `SELECT k.pair FROM unnest($1::text[]) AS k(pair)
        WHERE EXISTS (SELECT 1 FROM candles c WHERE c.pair = k.pair)`,
      [others],
    );
    for (const row of rows) stored.add(row.pair);
  }
  return pairs.map((pair) => configured.has(pair) || stored.has(pair));
}

/** The newest trade of each pair (by time, then trade id), or null. */
export async function lastTrades(pool: pg.Pool, pairs: readonly string[]): Promise<(TradeRow | null)[]> {
  const { rows } = await pool.query<TradeRow>(
    `SELECT ${TRADE_COLUMNS}
       FROM unnest($1::text[]) AS k(pair)
       CROSS JOIN LATERAL (
         SELECT * FROM trades WHERE trades.pair = k.pair ORDER BY time DESC, trade_id DESC LIMIT 1
       ) t`,
    [pairs],
  );
  const byPair = new Map(rows.map((row) => [row.pair, row]));
  return pairs.map((pair) => byPair.get(pair) ?? null);
}

/** The newest `limit` trades of each key's pair, newest first. */
export async function newestTrades(pool: pg.Pool, keys: readonly TradesKey[]): Promise<TradeRow[][]> {
  const { rows } = await pool.query<TradeRow & { idx: number }>(
    `SELECT k.idx::int4 AS idx, ${TRADE_COLUMNS}
       FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS k(pair, n, idx)
       CROSS JOIN LATERAL (
         SELECT * FROM trades WHERE trades.pair = k.pair ORDER BY time DESC, trade_id DESC LIMIT k.n
       ) t
      ORDER BY k.idx, t.time DESC, t.trade_id DESC`,
    [keys.map((k) => k.pair), keys.map((k) => k.limit)],
  );
  return groupByIndex(rows, keys.length);
}

/**
 * Per pair, the 24 hours of 1m candles ending with the newest one: its close, the open of
 * the oldest, the extremes and the summed volume. Null for a pair without 1m candles.
 */
export async function tickers(pool: pg.Pool, pairs: readonly string[]): Promise<(TickerRow | null)[]> {
  const { rows } = await pool.query<TickerRow & { pair: string }>(
    `SELECT k.pair, newest.close::float8 AS last, ${epochMs('newest.close_time')} AS "asOf",
            w.open24h::float8 AS open24h, w.high24h::float8 AS high24h, w.low24h::float8 AS low24h,
            w.volume24h::float8 AS volume24h
       FROM unnest($1::text[]) AS k(pair)
       CROSS JOIN LATERAL (
         SELECT open_time, close_time, close FROM candles
          WHERE pair = k.pair AND interval = $2 ORDER BY open_time DESC LIMIT 1
       ) newest
       CROSS JOIN LATERAL (
         SELECT (array_agg(open ORDER BY open_time))[1] AS open24h, max(high) AS high24h,
                min(low) AS low24h, sum(volume) AS volume24h
           FROM candles
          WHERE pair = k.pair AND interval = $2
            AND open_time > newest.open_time - $3 * interval '1 millisecond'
            AND open_time <= newest.open_time
       ) w`,
    [pairs, TICKER_INTERVAL, TICKER_WINDOW_MS],
  );
  const byPair = new Map(rows.map(({ pair, ...ticker }) => [pair, ticker]));
  return pairs.map((pair) => byPair.get(pair) ?? null);
}

/** One page of closed candles per key, oldest first; one row more than asked tells whether another page follows. */
export async function candlePages(pool: pg.Pool, keys: readonly CandlePageKey[]): Promise<CandlePage[]> {
  const { rows } = await pool.query<CandleRow & { idx: number }>(
    `SELECT k.idx::int4 AS idx, c.pair, c.interval, ${epochMs('c.open_time')} AS "openTime",
            ${epochMs('c.close_time')} AS "closeTime", c.open::float8 AS open, c.high::float8 AS high,
            c.low::float8 AS low, c.close::float8 AS close, c.volume::float8 AS volume, c.vwap,
            c.trade_count AS "tradeCount", c.flat
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::int[])
            WITH ORDINALITY AS k(pair, candle_interval, from_time, to_time, after_time, n, idx)
       CROSS JOIN LATERAL (
         SELECT * FROM candles
          WHERE candles.pair = k.pair AND candles.interval = k.candle_interval
            AND candles.open_time >= COALESCE(k.from_time, '-infinity')
            AND candles.open_time > COALESCE(k.after_time, '-infinity')
            AND candles.open_time < COALESCE(k.to_time, 'infinity')
          ORDER BY candles.open_time
          LIMIT k.n
       ) c
      ORDER BY k.idx, c.open_time`,
    [
      keys.map((k) => k.pair),
      keys.map((k) => k.interval),
      keys.map((k) => iso(k.from)),
      keys.map((k) => iso(k.to)),
      keys.map((k) => iso(k.after)),
      keys.map((k) => k.limit + 1),
    ],
  );
  return groupByIndex(rows, keys.length).map((candles, i) => {
    const limit = keys[i]?.limit ?? 0;
    return { candles: candles.slice(0, limit), hasNextPage: candles.length > limit };
  });
}

/** Rows tagged with their key's 1-based ordinal, split into one list per key (row order kept). */
function groupByIndex<T extends { idx: number }>(rows: readonly T[], count: number): Omit<T, 'idx'>[][] {
  const groups: Omit<T, 'idx'>[][] = Array.from({ length: count }, () => []);
  for (const { idx, ...row } of rows) groups[idx - 1]?.push(row);
  return groups;
}
