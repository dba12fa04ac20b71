/**
 * SQL of the features subgraph. Each function answers a whole batch of keys (all markets of
 * one request) with one statement. The newest set per (pair, interval) is what the
 * `latest_features` view holds; it is read here with a LATERAL `ORDER BY open_time DESC
 * LIMIT 1` per key over indicators' primary key, which costs one index probe per key on
 * PostgreSQL, where the plain view would sort every stored set of the pairs asked for.
 *
 * Times are epoch milliseconds here (float8 in SQL: whole ms are exact in a double, and no
 * global pg type parser is needed); resolvers.ts turns them into DateTime strings.
 */
import type pg from 'pg';
import { INDICATOR_NAMES, type IndicatorValues } from '../../schema/indicators.ts';

export interface IndicatorRow {
  readonly pair: string;
  readonly interval: string;
  readonly openTime: number;
  readonly close: number;
  /** Every indicator of INDICATOR_NAMES; null while warming up. */
  readonly values: IndicatorValues;
}

export interface LatestKey {
  readonly pair: string;
  readonly interval: string;
}

export interface IndicatorsKey {
  readonly pair: string;
  readonly interval: string;
  /** Inclusive lower bound on open time. */
  readonly from: number | null;
  /** Exclusive upper bound on open time. */
  readonly to: number | null;
  /** How many of the newest sets in the range. */
  readonly last: number;
}

type Row = { idx: number; pair: string; interval: string; openTime: number; close: number } & Record<string, unknown>;

// INDICATOR_NAMES are the column names (schema/sql), a fixed list: safe to splice into SQL.
const COLUMNS = [
  'i.pair',
  'i.interval',
  `(extract(epoch FROM i.open_time) * 1000)::float8 AS "openTime"`,
  'i.close',
  ...INDICATOR_NAMES.map((name) => `i.${name}`),
].join(', ');

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function indicatorRow(row: Row): IndicatorRow {
  const values = Object.fromEntries(
    INDICATOR_NAMES.map((name) => {
      const value = row[name];
      return [name, typeof value === 'number' ? value : null];
    }),
  ) as IndicatorValues;
  return { pair: row.pair, interval: row.interval, openTime: row.openTime, close: row.close, values };
}

/** The newest indicator set of each (pair, interval), or null. */
export async function latestSets(pool: pg.Pool, keys: readonly LatestKey[]): Promise<(IndicatorRow | null)[]> {
  const { rows } = await pool.query<Row>(
    `SELECT k.idx::int4 AS idx, ${COLUMNS}
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(pair, set_interval, idx)
       CROSS JOIN LATERAL (
         SELECT * FROM indicators
          WHERE indicators.pair = k.pair AND indicators.interval = k.set_interval
          ORDER BY indicators.open_time DESC
          LIMIT 1
       ) i`,
    [keys.map((k) => k.pair), keys.map((k) => k.interval)],
  );
  const found: (IndicatorRow | null)[] = keys.map(() => null);
  for (const row of rows) found[row.idx - 1] = indicatorRow(row);
  return found;
}

/** Per key, the newest `last` sets with open time in [from, to), oldest first. */
export async function indicatorSets(pool: pg.Pool, keys: readonly IndicatorsKey[]): Promise<IndicatorRow[][]> {
  const { rows } = await pool.query<Row>(
    `SELECT k.idx::int4 AS idx, ${COLUMNS}
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int[])
            WITH ORDINALITY AS k(pair, set_interval, from_time, to_time, n, idx)
       CROSS JOIN LATERAL (
         SELECT * FROM indicators
          WHERE indicators.pair = k.pair AND indicators.interval = k.set_interval
            AND indicators.open_time >= COALESCE(k.from_time, '-infinity')
            AND indicators.open_time < COALESCE(k.to_time, 'infinity')
          ORDER BY indicators.open_time DESC
          LIMIT k.n
       ) i
      ORDER BY k.idx, i.open_time`,
    [
      keys.map((k) => k.pair),
      keys.map((k) => k.interval),
      keys.map((k) => iso(k.from)),
      keys.map((k) => iso(k.to)),
      keys.map((k) => k.last),
    ],
  );
  const groups: IndicatorRow[][] = keys.map(() => []);
  for (const row of rows) groups[row.idx - 1]?.push(indicatorRow(row));
  return groups;
}
