/** Resolvers of the markets subgraph (schema/graphql/markets.graphql). */
import type { Candle, CandleConnection, Market, Resolvers, Side, Ticker, Trade } from './generated/resolvers.ts';
import { checkCount, checkInterval, DateTime, fromDateTime, toDateTime } from '../inputs.ts';
import { decodeCursor, encodeCursor } from './inputs.ts';
import type { Candle as BusCandle, Trade as BusTrade } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { loaders } from './loaders.ts';
import type { CandlePage, CandleRow, TickerRow, TradeRow } from './store.ts';

const DEFAULT_TRADES = 50;
const DEFAULT_CANDLES = 100;

/**
 * A market as a parent: every field but `pair` has its own resolver, so the pair is all a
 * parent carries. codegen.ts maps no model type to Market, so the generated return type is
 * the whole object type; this is the one place that narrows it.
 */
const market = (pair: string): Market => ({ pair }) as Market;

function splitPair(pair: string): { base: string; quote: string } {
  const [base, quote, ...rest] = pair.split('/');
  if (base === undefined || quote === undefined || rest.length > 0) throw new Error(`not a pair: ${pair}`);
  return { base, quote };
}

const SIDES: Readonly<Record<string, Side>> = { buy: 'BUY', sell: 'SELL' };

const trade = (row: TradeRow): Trade => ({
  pair: row.pair,
  tradeId: row.tradeId,
  price: row.price,
  qty: row.qty,
  side: row.side === null ? null : (SIDES[row.side] ?? null),
  time: toDateTime(row.time),
});

const ticker = (row: TickerRow): Ticker => ({
  last: row.last,
  open24h: row.open24h,
  high24h: row.high24h,
  low24h: row.low24h,
  volume24h: row.volume24h,
  change24h: (row.last - row.open24h) / row.open24h,
  asOf: toDateTime(row.asOf),
});

const candle = (row: CandleRow, final = true): Candle => ({
  pair: row.pair,
  interval: row.interval,
  openTime: toDateTime(row.openTime),
  closeTime: toDateTime(row.closeTime),
  open: row.open,
  high: row.high,
  low: row.low,
  close: row.close,
  volume: row.volume,
  vwap: row.vwap,
  tradeCount: row.tradeCount,
  flat: row.flat,
  final,
});

function connection(page: CandlePage): CandleConnection {
  const edges = page.candles.map((row) => ({ cursor: encodeCursor(row.openTime), node: candle(row) }));
  return { edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}

export const resolvers: Resolvers = {
  DateTime,
  Subscription: {
    tradeExecuted: {
      subscribe: (_parent, { pair }, context) =>
        context.live.subscribe([TOPICS.marketEvents], (event) => event.kind === 'trade' && event.pair === pair),
      resolve: (event: BusTrade) => trade({ ...event, tradeId: String(event.tradeId) }),
    },
    candleUpdated: {
      subscribe: (_parent, args, context) => {
        const interval = checkInterval(args.interval);
        return context.live.subscribe(
          [TOPICS.candles, TOPICS.candlesLive],
          (event) => event.pair === args.pair && event.interval === interval,
        );
      },
      resolve: (event: BusCandle) => candle(event, event.final),
    },
  },
  Query: {
    markets: async (_parent, _args, context) => (await loaders(context).markets()).map(market),
    market: async (_parent, { pair }, context) => ((await loaders(context).known.load(pair)) ? market(pair) : null),
  },
  Market: {
    // Representations from other subgraphs: a pair that is no market resolves to null, as in Query.market.
    __resolveReference: async (reference, context) =>
      (await loaders(context).known.load(reference.pair)) ? reference : null,
    base: (parent) => splitPair(parent.pair).base,
    quote: (parent) => splitPair(parent.pair).quote,
    lastTrade: async (parent, _args, context) => {
      const row = await loaders(context).lastTrade.load(parent.pair);
      return row && trade(row);
    },
    ticker: async (parent, _args, context) => {
      const row = await loaders(context).ticker.load(parent.pair);
      return row && ticker(row);
    },
    trades: async (parent, { first }, context) => {
      const limit = checkCount('first', first, DEFAULT_TRADES);
      return (await loaders(context).trades.load({ pair: parent.pair, limit })).map(trade);
    },
    candles: async (parent, args, context) => {
      const key = {
        pair: parent.pair,
        interval: checkInterval(args.interval),
        from: fromDateTime(args.from),
        to: fromDateTime(args.to),
        after: args.after === null || args.after === undefined ? null : decodeCursor(args.after),
        limit: checkCount('first', args.first, DEFAULT_CANDLES),
      };
      return connection(await loaders(context).candles.load(key));
    },
  },
};
