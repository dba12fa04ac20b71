/**
 * Where training reads its history: the feature store's one-minute candles (production),
 * or a Kraken candle export (offline, e.g. ../shared/data). Both become the same
 * indicator series through the same engine the indicators processor runs.
 */
import type pg from 'pg';
import type { IndicatorInput } from '../lib/indicators/engine.ts';
import { loadCandleCsv, type OhlcMinute } from '../lib/candle-csv.ts';
import { indicatorSeries, type SeriesPoint } from './dataset.ts';

export async function historyFromStore(pool: pg.Pool, pair: string): Promise<SeriesPoint[]> {
  const { rows } = await pool.query<IndicatorInput>(
    // Cast in SQL so the result does not depend on process-wide pg type parsers.
    `SELECT (extract(epoch FROM open_time) * 1000)::float8 AS "openTime",
            open::float8 AS open, high::float8 AS high, low::float8 AS low, close::float8 AS close,
            volume::float8 AS volume
       FROM candles WHERE pair = $1 AND interval = '1m' ORDER BY open_time`,
    [pair],
  );
  return indicatorSeries(rows);
}

export async function historyFromFile(path: string): Promise<SeriesPoint[]> {
  return indicatorSeries(indicatorInputs(await loadCandleCsv(path)));
}

/** Kraken export minutes as the indicator engine's candles. */
export function indicatorInputs(minutes: readonly OhlcMinute[]): IndicatorInput[] {
  return minutes.map((m) => ({
    openTime: m.time,
    open: m.open,
    high: m.high,
    low: m.low,
    close: m.close,
    volume: m.volume,
  }));
}
