/** Paths to the real data in ../shared/data (read in place, never copied into the repo). */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedData = resolve(repoRoot, '../shared/data');

export const BTC_CANDLES = resolve(sharedData, 'kraken/ohlcv_1m/XBTUSD_1m_2023-04-03_2023-05-10.csv.gz');
export const ETH_CANDLES = resolve(sharedData, 'kraken/ohlcv_1m/ETHUSD_1m_2023-04-03_2023-05-11.csv.gz');
export const NEWS = resolve(sharedData, 'news/cryptonews_2021-10-12_2022-07-05.csv.gz');

export function requireData(path: string): string {
  if (!existsSync(path)) {
    throw new Error(`missing ${path}: tests read the real data from ../shared/data beside the repository`);
  }
  return path;
}

/** 2023-04-04 00:00 UTC to 2023-04-05 00:00 UTC: a whole day without gaps in both files. */
export const FULL_DAY = { from: Date.UTC(2023, 3, 4), to: Date.UTC(2023, 3, 5) };
