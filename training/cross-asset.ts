/**
 * Cross-asset lead–lag inputs: the partner pair's recent one-minute log returns as extra
 * features (BTC/USD's moves for ETH/USD and the reverse). The two markets move together and
 * one often moves a little before the other, which a pair's own history cannot show.
 *
 * For the candle opening at t the inputs are ln(close_P(t − lag) / close_P(t − lag − k)) for
 * each k in CROSS_ASSET_WINDOWS, where P is the partner and `lag` is PARTNER_LAG_MINUTES:
 * the partner's candles up to the one opening at t − lag, all closed by the close of candle t.
 * With lag 1 the newest partner candle used closed a minute before the prediction is made, so
 * the live predictor finds it in the feature store even when the partner's candle for t is
 * still being written (both close at the same instant); see the module's evaluation figures
 * in README for what lag 0 would add.
 *
 * A missing partner close (the partner's feed silent, a gap) makes the inputs null: training
 * skips the row, and the predictor falls back to persistence for that minute rather than let
 * a silent partner feed make predictions worse than persistence.
 */
import type pg from 'pg';
import { logReturn, MINUTE_MS, type DatasetOptions, type SeriesPoint } from './dataset.ts';

/** Return windows, minutes. */
export const CROSS_ASSET_WINDOWS: readonly number[] = [1, 2, 3, 5, 10, 15];

/** How many minutes before the predicted candle the partner's newest candle is. */
export const PARTNER_LAG_MINUTES = 1;

export const CROSS_ASSET_FEATURE_NAMES: readonly string[] = CROSS_ASSET_WINDOWS.map((k) => `partner_log_return_${k}m`);

/** The pair whose moves feed a pair's cross-asset inputs (none for other pairs). */
const PARTNERS: Readonly<Record<string, string>> = { 'BTC/USD': 'ETH/USD', 'ETH/USD': 'BTC/USD' };

export function partnerOf(pair: string): string | undefined {
  return PARTNERS[pair];
}

/** Partner minutes needed before the predicted candle's open time: the oldest close any window reads. */
const SPAN_MINUTES = PARTNER_LAG_MINUTES + Math.max(...CROSS_ASSET_WINDOWS);

/** The inputs at the candle opening at `openTime`, from the partner's closes by open time; null values where a close is missing. */
export function crossAssetAt(partnerCloses: ReadonlyMap<number, number>, openTime: number): (number | null)[] {
  const newest = partnerCloses.get(openTime - PARTNER_LAG_MINUTES * MINUTE_MS);
  return CROSS_ASSET_WINDOWS.map((k) => {
    const older = partnerCloses.get(openTime - (PARTNER_LAG_MINUTES + k) * MINUTE_MS);
    return newest === undefined || older === undefined ? null : logReturn(older, newest);
  });
}

/** Dataset options adding the partner's inputs (rows without them are skipped). */
export function crossAssetDatasetOptions(partner: readonly { openTime: number; close: number }[]): DatasetOptions {
  const closes = new Map(partner.map((p) => [p.openTime, p.close]));
  return {
    extraNames: CROSS_ASSET_FEATURE_NAMES,
    extra: (point: SeriesPoint) => crossAssetAt(closes, point.openTime),
  };
}

/** The partner's one-minute closes the inputs at `openTime` read, from the feature store. */
export async function partnerClosesFromStore(
  pool: pg.Pool,
  partner: string,
  openTime: number,
): Promise<Map<number, number>> {
  const { rows } = await pool.query<{ openTime: number; close: number }>(
    // Cast in SQL so the result does not depend on process-wide pg type parsers.
    `SELECT (extract(epoch FROM open_time) * 1000)::float8 AS "openTime", close::float8 AS close
       FROM candles
      WHERE pair = $1 AND interval = '1m'
        AND open_time BETWEEN to_timestamp($2::float8 / 1000) AND to_timestamp($3::float8 / 1000)`,
    [partner, openTime - SPAN_MINUTES * MINUTE_MS, openTime - PARTNER_LAG_MINUTES * MINUTE_MS],
  );
  return new Map(rows.map((r) => [r.openTime, r.close]));
}
