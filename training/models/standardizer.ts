import type { Standardizer } from '../model-types.ts';

/**
 * Mean and population standard deviation of each column of `rows`. A constant (or
 * non-finite) column gets scale 1, so it standardizes to 0 instead of dividing by zero.
 */
export function fitStandardizer(rows: readonly (readonly number[])[]): Standardizer {
  const first = rows[0];
  if (first === undefined) throw new RangeError('cannot standardize zero rows');
  const width = first.length;
  const mean = new Array<number>(width).fill(0);
  for (const row of rows) for (let f = 0; f < width; f += 1) mean[f] = (mean[f] ?? 0) + (row[f] ?? NaN);
  for (let f = 0; f < width; f += 1) mean[f] = (mean[f] ?? 0) / rows.length;
  const variance = new Array<number>(width).fill(0);
  for (const row of rows) {
    for (let f = 0; f < width; f += 1) {
      const d = (row[f] ?? NaN) - (mean[f] ?? 0);
      variance[f] = (variance[f] ?? 0) + d * d;
    }
  }
  const scale = variance.map((v) => {
    const sd = Math.sqrt(v / rows.length);
    return sd > 0 && Number.isFinite(sd) ? sd : 1;
  });
  return { mean, scale };
}

/** Standardized copy of every row. */
export function standardizeRows(standardizer: Standardizer, rows: readonly (readonly number[])[]): number[][] {
  const { mean, scale } = standardizer;
  return rows.map((row) => row.map((v, f) => (v - (mean[f] ?? NaN)) / (scale[f] ?? NaN)));
}
