/**
 * Deterministic synthetic data for the training tests: a seeded generator and one-minute
 * candles whose log returns follow an AR(1) process (φ = 0 gives a random walk).
 */
import type { IndicatorInput } from '../lib/indicators/engine.ts';
import { seededRandom } from '../lib/random.ts';

/** Standard normal draws (Box–Muller) from a uniform generator. */
export function normal(random: () => number): () => number {
  return () => {
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export interface SyntheticCandleOptions {
  readonly count: number;
  readonly seed?: number;
  /** Open time of the first candle, epoch ms; default 2023-01-01. */
  readonly start?: number;
  readonly startPrice?: number;
  /** Per-minute log-return standard deviation of the innovations; default 5e-4. */
  readonly volatility?: number;
  /** AR(1) coefficient of the one-minute log returns; default 0. */
  readonly phi?: number;
  /** Candle indices before which `gapMinutes` minutes are missing. */
  readonly gapsBefore?: readonly number[];
  readonly gapMinutes?: number;
}

export function syntheticCandles(options: SyntheticCandleOptions): IndicatorInput[] {
  const random = seededRandom(options.seed ?? 1);
  const gauss = normal(random);
  const volatility = options.volatility ?? 5e-4;
  const phi = options.phi ?? 0;
  const gaps = new Set(options.gapsBefore ?? []);
  let time = options.start ?? Date.UTC(2023, 0, 1);
  let close = options.startPrice ?? 30_000;
  let previousReturn = 0;
  const out: IndicatorInput[] = [];
  for (let i = 0; i < options.count; i += 1) {
    if (gaps.has(i)) time += (options.gapMinutes ?? 120) * 60_000;
    const r = phi * previousReturn + volatility * gauss();
    previousReturn = r;
    const open = close;
    close = open * Math.exp(r);
    const wick = Math.abs(volatility * gauss()) * open;
    out.push({
      openTime: time,
      open,
      high: Math.max(open, close) + wick,
      low: Math.min(open, close) - wick,
      close,
      volume: 1 + random(),
    });
    time += 60_000;
  }
  return out;
}

/**
 * Two markets where the second follows the first a minute later: the follower's log return
 * over minute t + 1 is 0.6 × the leader's over minute t plus its own noise, so nothing in
 * the follower's own past predicts it (cross-asset inputs do, training/cross-asset.ts).
 */
export function ledMarkets(
  count: number,
  seed: number,
  start = Date.UTC(2024, 0, 1),
): { leader: IndicatorInput[]; follower: IndicatorInput[] } {
  const gauss = normal(seededRandom(seed));
  const sigma = 5e-4;
  const leader: IndicatorInput[] = [];
  const follower: IndicatorInput[] = [];
  let lead = 0;
  const candle = (openTime: number, open: number, r: number): IndicatorInput => {
    const close = open * Math.exp(r);
    return { openTime, open, high: Math.max(open, close), low: Math.min(open, close), close, volume: 1 };
  };
  for (let i = 0; i < count; i += 1) {
    const rLeader = sigma * gauss();
    const rFollower = 0.6 * lead + sigma * gauss();
    lead = rLeader;
    const openTime = start + i * 60_000;
    leader.push(candle(openTime, leader[i - 1]?.close ?? 30_000, rLeader));
    follower.push(candle(openTime, follower[i - 1]?.close ?? 2_000, rFollower));
  }
  return { leader, follower };
}
