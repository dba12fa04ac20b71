/**
 * A SIMULATED market for offline demos: a seeded random walk (geometric Brownian
 * motion) with Poisson-ish trade arrivals. Its prices are not real; every trade says
 * `source: "simulated"` and the process logs a warning when it starts.
 *
 * With `warmUp`, it first plays the last hours of its own simulated past as fast as the sink
 * takes them (minutes after what the store already holds), so the indicators' windows are
 * full and a model can predict at the first live minute, not an hour later.
 *
 * Trade ids follow the candle replay's scheme (minute × 100,000 + sequence): they increase
 * from the warm-up into live trading and across restarts, so the candles processor never
 * takes a live trade for a duplicate of an earlier run's.
 */
import type { OhlcMinute } from '../../lib/candle-csv.ts';
import type { MarketEvent, Trade } from '../../schema/events.ts';
import type { MarketSink, TradeSource } from './source.ts';
import { seededRandom } from '../../lib/random.ts';
import { replayCandles, TRADE_IDS_PER_MINUTE } from './candle-replay.ts';

export interface SimulatedMarketOptions {
  readonly pairs: readonly string[];
  /** Starting prices per pair; unknown pairs start at 100. */
  readonly startPrices?: Readonly<Record<string, number>>;
  readonly tradesPerSecond: number;
  /** Per-second volatility of log price. */
  readonly volatility: number;
  readonly seed: number;
  /** Stop after this many trades (tests); unset runs until aborted. */
  readonly maxTrades?: number;
  readonly warmUp?: {
    /** Simulated past minutes to play before live trading. */
    readonly minutes: number;
    /** The newest stored one-minute candle of a pair (open time), so the warm-up never overlaps it. */
    readonly storedThrough?: ((pair: string) => Promise<number | null>) | undefined;
  };
  /** The clock (tests). */
  readonly now?: () => number;
}

const MINUTE_MS = 60_000;
const DEFAULT_PRICES: Record<string, number> = { 'BTC/USD': 28_000, 'ETH/USD': 1_900 };

/** What `tickcast start` simulates: 4 trades/s per pair, 0.05 % per-second volatility. */
export const SIMULATED_MARKET = { tradesPerSecond: 4, volatility: 0.0005 } as const;

/** The price a pair's simulated market starts at. */
export function simulatedStartPrice(pair: string): number {
  return DEFAULT_PRICES[pair] ?? 100;
}

export interface SimulatedMinutesOptions {
  readonly startPrice: number;
  /** Per-second volatility of log price (the per-minute one is √60 times it). */
  readonly volatilityPerSecond: number;
  /** Open time of the first minute, epoch ms (a whole minute). */
  readonly firstOpenTime: number;
  readonly count: number;
  readonly seed: number;
}

/** One-minute candles of the same random walk, each with 4 trades, prices in cents. */
export function simulatedMinutes(options: SimulatedMinutesOptions): OhlcMinute[] {
  const random = seededRandom(options.seed);
  const gaussian = (): number => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
  const sigma = options.volatilityPerSecond * Math.sqrt(60);
  const cents = (price: number): number => Math.round(price * 100) / 100;
  let close = cents(options.startPrice);
  const minutes: OhlcMinute[] = [];
  for (let i = 0; i < options.count; i += 1) {
    const open = close;
    close = cents(open * Math.exp(sigma * gaussian()));
    const high = cents(Math.max(open, close) * (1 + Math.abs(sigma * gaussian()) / 2));
    const low = cents(Math.min(open, close) * (1 - Math.abs(sigma * gaussian()) / 2));
    minutes.push({
      time: options.firstOpenTime + i * MINUTE_MS,
      open,
      high,
      low,
      close,
      vwap: cents((open + high + low + close) / 4),
      volume: Math.round((0.5 + random()) * 1e8) / 1e8,
      count: 4,
    });
  }
  return minutes;
}

export class SimulatedMarket implements TradeSource {
  readonly name = 'simulated' as const;

  constructor(private readonly options: SimulatedMarketOptions) {}

  async start(sink: MarketSink, signal: AbortSignal): Promise<void> {
    const now = this.options.now ?? Date.now;
    const random = seededRandom(this.options.seed);
    const gaussian = (): number => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
    const prices = new Map(this.options.pairs.map((p) => [p, this.options.startPrices?.[p] ?? simulatedStartPrice(p)]));
    const lastTradeIds = new Map(this.options.pairs.map((p) => [p, 0]));
    if (this.options.warmUp) await this.warmUp(this.options.warmUp, sink, signal, prices, lastTradeIds, now());
    const tickMs = 250;
    let produced = 0;
    while (!signal.aborted && (this.options.maxTrades === undefined || produced < this.options.maxTrades)) {
      const time = now();
      const events: MarketEvent[] = [];
      for (const pair of this.options.pairs) {
        const arrivals = Math.floor(random() * 2 * this.options.tradesPerSecond * (tickMs / 1000) + random());
        for (let i = 0; i < arrivals; i++) {
          const price = prices.get(pair)! * Math.exp(this.options.volatility * Math.sqrt(tickMs / 1000) * gaussian());
          prices.set(pair, price);
          const tradeId = Math.max(lastTradeIds.get(pair)! + 1, Math.floor(time / MINUTE_MS) * TRADE_IDS_PER_MINUTE);
          lastTradeIds.set(pair, tradeId);
          const trade: Trade = {
            v: 1,
            kind: 'trade',
            pair,
            tradeId,
            price: Math.round(price * 100) / 100,
            qty: Math.max(1, Math.round(random() * random() * 1e8)) / 1e8,
            side: random() < 0.5 ? 'buy' : 'sell',
            time,
            source: 'simulated',
          };
          events.push(trade);
        }
        // The simulator knows nothing comes later than now, so quiet minutes still close.
        events.push({ v: 1, kind: 'clock', pair, time, source: 'simulated' });
      }
      produced += events.filter((e) => e.kind === 'trade').length;
      await sink(events);
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
  }

  /**
   * Plays each pair's simulated past up to two minutes before `at`: the replay's closing
   * clock lands on the current minute's start, so no live trade comes after its minute closed.
   */
  private async warmUp(
    warmUp: NonNullable<SimulatedMarketOptions['warmUp']>,
    sink: MarketSink,
    signal: AbortSignal,
    prices: Map<string, number>,
    lastTradeIds: Map<string, number>,
    at: number,
  ): Promise<void> {
    const lastOpenTime = Math.floor(at / MINUTE_MS) * MINUTE_MS - 2 * MINUTE_MS;
    for (const [index, pair] of this.options.pairs.entries()) {
      const stored = (await warmUp.storedThrough?.(pair)) ?? null;
      const first = Math.max(
        lastOpenTime - (warmUp.minutes - 1) * MINUTE_MS,
        stored === null ? -Infinity : stored + MINUTE_MS,
      );
      if (first > lastOpenTime || signal.aborted) continue;
      const minutes = simulatedMinutes({
        startPrice: prices.get(pair)!,
        volatilityPerSecond: this.options.volatility,
        firstOpenTime: first,
        count: (lastOpenTime - first) / MINUTE_MS + 1,
        seed: this.options.seed + index + 1,
      });
      await replayCandles(
        minutes,
        (events) =>
          sink(
            events.map((event) => {
              if (event.kind === 'trade') lastTradeIds.set(pair, Math.max(lastTradeIds.get(pair)!, event.tradeId));
              return { ...event, source: 'simulated' as const };
            }),
          ),
        { pair, speed: 0, signal },
      );
      prices.set(pair, minutes[minutes.length - 1]?.close ?? prices.get(pair)!);
    }
  }
}
