/**
 * Per-request DataLoaders of the markets subgraph. Each batches every load of one tick of the
 * event loop (e.g. the fields of all representations of one `_entities` request) into one
 * SQL statement (store.ts), and caches within the request only.
 */
import DataLoader from 'dataloader';
import type pg from 'pg';
import type { SubgraphContext } from '../context.ts';
import {
  candlePages,
  knownPairs,
  lastTrades,
  listPairs,
  newestTrades,
  tickers,
  type CandlePage,
  type CandlePageKey,
  type TickerRow,
  type TradeRow,
  type TradesKey,
} from './store.ts';

export class MarketsLoaders {
  /** Whether a pair is a market: configured, or with candles stored. */
  readonly known: DataLoader<string, boolean>;
  readonly lastTrade: DataLoader<string, TradeRow | null>;
  readonly ticker: DataLoader<string, TickerRow | null>;
  readonly trades: DataLoader<TradesKey, TradeRow[], string>;
  readonly candles: DataLoader<CandlePageKey, CandlePage, string>;
  readonly #pool: pg.Pool;
  readonly #pairs: readonly string[];

  constructor(pool: pg.Pool, pairs: readonly string[]) {
    this.#pool = pool;
    this.#pairs = pairs;
    const configured = new Set(pairs);
    this.known = new DataLoader((keys) => knownPairs(pool, configured, keys));
    this.lastTrade = new DataLoader((keys) => lastTrades(pool, keys));
    this.ticker = new DataLoader((keys) => tickers(pool, keys));
    this.trades = new DataLoader((keys) => newestTrades(pool, keys), {
      cacheKeyFn: (k) => JSON.stringify([k.pair, k.limit]),
    });
    this.candles = new DataLoader((keys) => candlePages(pool, keys), {
      cacheKeyFn: (k) => JSON.stringify([k.pair, k.interval, k.from, k.to, k.after, k.limit]),
    });
  }

  /** Every market: the configured pairs, then the other pairs with candles. */
  markets(): Promise<string[]> {
    return listPairs(this.#pool, this.#pairs);
  }
}

const KEY = 'markets';

export function createLoaders(pool: pg.Pool, pairs: readonly string[]): Record<string, unknown> {
  return { [KEY]: new MarketsLoaders(pool, pairs) };
}

/** This request's loaders (see `createLoaders`). */
export function loaders(context: SubgraphContext): MarketsLoaders {
  const found = context.loaders[KEY];
  if (!(found instanceof MarketsLoaders)) throw new Error('markets loaders missing from the request context');
  return found;
}
