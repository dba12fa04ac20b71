/**
 * Cross-asset lead–lag inputs: the partner pair's recent one-minute log returns as extra
 * features (BTC/USD's moves for ETH/USD and the reverse). The two markets move together and
 * one often moves a little before the other, which a pair's own history cannot show.
 *
 * For the candle opening at t the inputs are the partner's log returns over the k minutes up
 * to the close of its candle t, ln(close_P(t) / close_P(t − k)) for each k in
 * CROSS_ASSET_WINDOWS, and the spreads own return − partner return over 1, 5 and 15 minutes.
 * Everything is known at the close of candle t, when the prediction is made. The partner's
 * candle t closes at the same instant as the pair's, so the live predictor may look for it
 * before it is stored: when the partner's feed is live (its candle t − 1 is stored) it waits
 * for it, briefly (`partnerInputsFromStore`). On the real candles the same-minute candle is
 * most of the gain: with the partner lagged by one minute instead, ETH/USD 1m stayed at its
 * own-pair model's 0.9988 of persistence's MAE; with it, 0.9945 (README, `tickcast evaluate`).
 *
 * A missing partner close (the partner's feed silent, a gap) makes the inputs null: training
 * skips the row, and the predictor falls back to persistence for that minute rather than let
 * a silent partner feed make predictions worse than persistence.
 */
import type pg from 'pg';
import { logReturn, MINUTE_MS, type DatasetOptions, type SeriesPoint } from './dataset.ts';

/** Return windows, minutes. */
export const CROSS_ASSET_WINDOWS: readonly number[] = [1, 2, 3, 5, 10, 15];

/** How many minutes before the predicted candle the partner's newest candle is (0: the same minute). */
const PARTNER_LAG_MINUTES = 0;

/** Windows of the spread inputs: the pair's own log return over k minutes minus the partner's (the own ones are indicators). */
const SPREAD_WINDOWS: readonly (1 | 5 | 15)[] = [1, 5, 15];

export const CROSS_ASSET_FEATURE_NAMES: readonly string[] = [
  ...CROSS_ASSET_WINDOWS.map((k) => `partner_log_return_${k}m`),
  ...SPREAD_WINDOWS.map((k) => `spread_log_return_${k}m`),
];

/** The pair's own indicator values the spread inputs read (an IndicatorSet's or a SeriesPoint's `values`). */
export type OwnValues = Readonly<Record<string, number | null | undefined>>;

/** The pair whose moves feed a pair's cross-asset inputs (none for other pairs). */
const PARTNERS: Readonly<Record<string, string>> = { 'BTC/USD': 'ETH/USD', 'ETH/USD': 'BTC/USD' };

export function partnerOf(pair: string): string | undefined {
  return PARTNERS[pair];
}

/** Partner minutes needed before the predicted candle's open time: the oldest close any window reads. */
const SPAN_MINUTES = PARTNER_LAG_MINUTES + Math.max(...CROSS_ASSET_WINDOWS);

/**
 * The inputs at the candle opening at `openTime`, from the partner's closes by open time and
 * the pair's own indicator values; null values where a close or an own return is missing.
 */
export function crossAssetAt(
  partnerCloses: ReadonlyMap<number, number>,
  openTime: number,
  own: OwnValues,
): (number | null)[] {
  const newest = partnerCloses.get(openTime - PARTNER_LAG_MINUTES * MINUTE_MS);
  const partnerReturn = (k: number): number | null => {
    const older = partnerCloses.get(openTime - (PARTNER_LAG_MINUTES + k) * MINUTE_MS);
    return newest === undefined || older === undefined ? null : logReturn(older, newest);
  };
  const spread = (k: 1 | 5 | 15): number | null => {
    const mine = own[`log_return_${k}`];
    const theirs = partnerReturn(k);
    return mine === null || mine === undefined || theirs === null ? null : mine - theirs;
  };
  return [...CROSS_ASSET_WINDOWS.map(partnerReturn), ...SPREAD_WINDOWS.map(spread)];
}

/** Dataset options adding the partner's inputs (rows without them are skipped). */
export function crossAssetDatasetOptions(partner: readonly { openTime: number; close: number }[]): DatasetOptions {
  const closes = new Map(partner.map((p) => [p.openTime, p.close]));
  return {
    extraNames: CROSS_ASSET_FEATURE_NAMES,
    extra: (point: SeriesPoint) => crossAssetAt(closes, point.openTime, point.values),
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

/**
 * The cross-asset inputs for `pair`'s candle opening at `openTime`, from the feature store.
 * If the partner's candle t − 1 is stored but t is not yet, its feed is live and candle t is
 * being written right now: poll for it up to `waitMs` before answering without it.
 */
export async function partnerInputsFromStore(
  pool: pg.Pool,
  pair: string,
  openTime: number,
  own: OwnValues,
  waitMs: number,
): Promise<(number | null)[]> {
  const partner = partnerOf(pair);
  if (!partner) return CROSS_ASSET_FEATURE_NAMES.map(() => null);
  const deadline = Date.now() + waitMs;
  let closes = await partnerClosesFromStore(pool, partner, openTime);
  const newest = openTime - PARTNER_LAG_MINUTES * MINUTE_MS;
  while (!closes.has(newest) && closes.has(newest - MINUTE_MS) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    closes = await partnerClosesFromStore(pool, partner, openTime);
  }
  return crossAssetAt(closes, openTime, own);
}
