/**
 * Rebuilds the error monitor's state from the predictions table (PostgreSQL, embedded
 * PGlite or a server), for a monitor that starts without a state of its own: the embedded
 * bus keeps none across a restart, and a Kafka monitor whose changelog is gone has none
 * either. Without it the rolling windows restart empty and the counts that
 * `modelPerformance` shows fall back to 1.
 */
import type pg from 'pg';
import { counter } from '../../lib/metrics.ts';
import { stateFromStore, type MonitorConfig, type MonitorState, type StoredPrediction } from './rolling.ts';

const restored = counter(
  'tickcast_monitor_restored_predictions_total',
  'Stored predictions read back into the error monitor on start',
  ['kind'],
);

export interface MonitorRestoreOptions extends MonitorConfig {
  /** At most this many unresolved predictions come back as pending (the newest). */
  readonly maxPending: number;
}

interface Row {
  id: string;
  pair: string;
  horizon_minutes: number;
  target_time: Date;
  base_price: number | null;
  predicted_price: number;
  lower_bound: number | null;
  upper_bound: number | null;
  model_name: string;
  model_version: string;
  actual_price: number | null;
}

/**
 * Per pair: the last `window` outcomes of each model version and horizon, oldest first,
 * and the unresolved predictions whose target is after the newest stored one-minute
 * close (an older target's close has passed and will not come again).
 */
export async function monitorStatesFromStore(
  pool: Pick<pg.Pool, 'query'>,
  options: MonitorRestoreOptions,
): Promise<Map<string, MonitorState>> {
  const columns = `id, pair, horizon_minutes, target_time, base_price, predicted_price, lower_bound, upper_bound,
    model_name, model_version, actual_price`;
  const { rows } = await pool.query<Row>(
    `SELECT ${columns} FROM (
       SELECT ${columns}, row_number() OVER (
         PARTITION BY model_name, model_version, pair, horizon_minutes ORDER BY target_time DESC, id DESC) AS n
       FROM predictions WHERE actual_price IS NOT NULL) resolved
     WHERE n <= $1
     UNION ALL
     (SELECT ${columns} FROM predictions p
       WHERE actual_price IS NULL
         AND target_time > COALESCE(
           (SELECT max(close_time) FROM candles c WHERE c.pair = p.pair AND c.interval = '1m'), '-infinity')
       ORDER BY target_time DESC, id DESC LIMIT $2)
     ORDER BY target_time, id`,
    [options.window, options.maxPending],
  );
  const byPair = new Map<string, StoredPrediction[]>();
  for (const row of rows) {
    const stored: StoredPrediction = {
      id: row.id,
      pair: row.pair,
      horizonMinutes: row.horizon_minutes,
      targetTime: row.target_time.getTime(),
      basePrice: row.base_price,
      predictedPrice: row.predicted_price,
      lowerBound: row.lower_bound,
      upperBound: row.upper_bound,
      modelName: row.model_name,
      modelVersion: row.model_version,
      actualPrice: row.actual_price,
    };
    restored.inc({ kind: stored.actualPrice === null ? 'pending' : 'outcome' });
    const list = byPair.get(row.pair) ?? [];
    list.push(stored);
    byPair.set(row.pair, list);
  }
  return new Map([...byPair].map(([pair, stored]) => [pair, stateFromStore(stored, options)]));
}
