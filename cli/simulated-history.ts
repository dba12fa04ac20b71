/**
 * History for the SIMULATED market, so plain `tickcast start` offline reaches predictions by
 * itself: a few days of one-minute candles from the same random walk the simulated source
 * plays (streams/sources/simulated.ts), written as a Kraken OHLC export for
 * `tickcast train --data`. Nothing in it is real, and its file name says so; a random walk has
 * nothing to learn, so the model trained on it is persistence or close to it, kept as
 * challenger by the promotion gate and served until a real one exists.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toKrakenCsv } from '../lib/candle-csv.ts';
import { SIMULATED_MARKET, simulatedMinutes, simulatedStartPrice } from '../streams/sources/simulated.ts';

const MINUTE_MS = 60_000;

/** Writes `days` of the pair's simulated history, ending before the current minute, under `dataDir`; answers its path. */
export async function writeSimulatedHistory(dataDir: string, pair: string, days: number, now: number): Promise<string> {
  const count = Math.round(days * 24 * 60);
  const minutes = simulatedMinutes({
    startPrice: simulatedStartPrice(pair),
    volatilityPerSecond: SIMULATED_MARKET.volatility,
    firstOpenTime: Math.floor(now / MINUTE_MS) * MINUTE_MS - count * MINUTE_MS,
    count,
    seed: now,
  });
  const dir = join(dataDir, 'simulated-history');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `SIMULATED-${pair.replace(/[^A-Za-z0-9]/g, '')}-1m.csv`);
  await writeFile(file, toKrakenCsv(minutes));
  return file;
}
