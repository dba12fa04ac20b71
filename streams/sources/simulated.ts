/**
 * A SIMULATED market for offline demos: a seeded random walk (geometric Brownian
 * motion) with Poisson-ish trade arrivals. Its prices are not real; every trade says
 * `source: "simulated"` and the process logs a warning when it starts.
 */
import type { MarketEvent, Trade } from '../../schema/events.ts';
import type { MarketSink, TradeSource } from './source.ts';
import { seededRandom } from '../../lib/random.ts';

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
}

const DEFAULT_PRICES: Record<string, number> = { 'BTC/USD': 28_000, 'ETH/USD': 1_900 };

export class SimulatedMarket implements TradeSource {
  readonly name = 'simulated' as const;

  constructor(private readonly options: SimulatedMarketOptions) {}

  async start(sink: MarketSink, signal: AbortSignal): Promise<void> {
    const random = seededRandom(this.options.seed);
    const gaussian = (): number => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
    const prices = new Map(
      this.options.pairs.map((p) => [p, this.options.startPrices?.[p] ?? DEFAULT_PRICES[p] ?? 100]),
    );
    const tradeIds = new Map(this.options.pairs.map((p) => [p, 0]));
    const tickMs = 250;
    let produced = 0;
    while (!signal.aborted && (this.options.maxTrades === undefined || produced < this.options.maxTrades)) {
      const now = Date.now();
      const events: MarketEvent[] = [];
      for (const pair of this.options.pairs) {
        const arrivals = Math.floor(random() * 2 * this.options.tradesPerSecond * (tickMs / 1000) + random());
        for (let i = 0; i < arrivals; i++) {
          const price = prices.get(pair)! * Math.exp(this.options.volatility * Math.sqrt(tickMs / 1000) * gaussian());
          prices.set(pair, price);
          const id = tradeIds.get(pair)! + 1;
          tradeIds.set(pair, id);
          const trade: Trade = {
            v: 1,
            kind: 'trade',
            pair,
            tradeId: id,
            price: Math.round(price * 100) / 100,
            qty: Math.max(1, Math.round(random() * random() * 1e8)) / 1e8,
            side: random() < 0.5 ? 'buy' : 'sell',
            time: now,
            source: 'simulated',
          };
          events.push(trade);
        }
        // The simulator knows nothing comes later than now, so quiet minutes still close.
        events.push({ v: 1, kind: 'clock', pair, time: now, source: 'simulated' });
      }
      produced += events.filter((e) => e.kind === 'trade').length;
      await sink(events);
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
  }
}
