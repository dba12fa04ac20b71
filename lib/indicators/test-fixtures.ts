/**
 * Test support: real Kraken one-minute candles from ../shared/data (paths from the shared
 * test/support/data.ts; read in place, never copied into the repo) and the engine run
 * over them. Parsed here, synchronously, keeping the volume text for exact decimal checks.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { BTC_CANDLES, ETH_CANDLES, requireData } from '../../test/support/data.ts';
import { createIndicatorState, updateIndicators, type IndicatorInput, type IndicatorValues } from './engine.ts';

export const XBTUSD_FILE = BTC_CANDLES;
export const ETHUSD_FILE = ETH_CANDLES;

export interface KrakenCandle extends IndicatorInput {
  /** The volume column as written (8 decimals), for exact decimal arithmetic in tests. */
  volumeText: string;
}

const HEADER = 'dtime,time,open,high,low,close,vwap,volume,count';
const cache = new Map<string, readonly KrakenCandle[]>();

/** All candles of a gzip export, in file order; `time` (epoch s) becomes `openTime` (epoch ms). */
export function loadKrakenCandles(file: string): readonly KrakenCandle[] {
  const cached = cache.get(file);
  if (cached !== undefined) return cached;
  const lines = gunzipSync(readFileSync(requireData(file)))
    .toString('utf8')
    .split('\n');
  if (lines[0]?.trim() !== HEADER) throw new Error(`${file}: unexpected header ${lines[0]}`);
  const candles: KrakenCandle[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const [, time, open, high, low, close, , volume] = line.split(',');
    const candle = {
      openTime: Number(time) * 1000,
      open: Number(open),
      high: Number(high),
      low: Number(low),
      close: Number(close),
      volume: Number(volume),
      volumeText: volume ?? '',
    };
    if (![candle.openTime, candle.open, candle.high, candle.low, candle.close, candle.volume].every(Number.isFinite)) {
      throw new Error(`${file}: unparseable line ${line}`);
    }
    candles.push(candle);
  }
  cache.set(file, candles);
  return candles;
}

/** Runs a fresh engine over `candles`, returning one output per candle. */
export function runEngine(candles: readonly IndicatorInput[]): IndicatorValues[] {
  const state = createIndicatorState();
  return candles.map((candle) => updateIndicators(state, candle));
}

/** A flat candle (O=H=L=C) without volume, as the candle processor emits for a quiet window. */
export function flatCandle(openTime: number, price: number): IndicatorInput {
  return { openTime, open: price, high: price, low: price, close: price, volume: 0 };
}
