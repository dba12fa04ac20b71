/** Compares what two test runs stored, each in its own PostgreSQL schema (see `isolate`). */
import pg from 'pg';
import { requireServices } from './services.ts';

export interface CompareOptions {
  /** The columns to compare; default every column of the table but `ignore`. */
  readonly columns?: readonly string[];
  /** Columns left out of the default (wall-clock stamps that differ between two runs by design). */
  readonly ignore?: readonly string[];
}

/**
 * Rows of `table` in schema `a` and not in schema `b`, and the other way round (SQL EXCEPT
 * both ways; at most 20, each tagged 'missing' or 'extra'). Empty when both runs stored the
 * same rows.
 */
export async function tableDifferences(
  a: string,
  b: string,
  table: string,
  options: CompareOptions = {},
): Promise<unknown[]> {
  const pool = new pg.Pool({ connectionString: requireServices().databaseUrl, max: 1 });
  try {
    const columns =
      options.columns ??
      (
        await pool.query<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns
            WHERE table_schema = $1 AND table_name = $2 AND NOT (column_name = ANY($3))`,
          [a, table, [...(options.ignore ?? [])]],
        )
      ).rows.map((r) => r.column_name);
    if (columns.length === 0) throw new Error(`no columns to compare in ${a}.${table}`);
    const list = columns.join(', ');
    const { rows } = await pool.query(
      `(SELECT 'missing' AS side, ${list} FROM ${a}.${table} EXCEPT SELECT 'missing', ${list} FROM ${b}.${table})
       UNION ALL
       (SELECT 'extra' AS side, ${list} FROM ${b}.${table} EXCEPT SELECT 'extra', ${list} FROM ${a}.${table})
       LIMIT 20`,
    );
    return rows;
  } finally {
    await pool.end();
  }
}

/** Row counts of `table` in both schemas. */
export async function rowCounts(a: string, b: string, table: string): Promise<{ a: number; b: number }> {
  const pool = new pg.Pool({ connectionString: requireServices().databaseUrl, max: 1 });
  try {
    const { rows } = await pool.query<{ a: number; b: number }>(
      `SELECT (SELECT count(*) FROM ${a}.${table})::int AS a, (SELECT count(*) FROM ${b}.${table})::int AS b`,
    );
    return rows[0] ?? { a: 0, b: 0 };
  } finally {
    await pool.end();
  }
}
