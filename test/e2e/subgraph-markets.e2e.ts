/**
 * The markets subgraph over HTTP against real PostgreSQL: every field against the rows
 * inserted, candle pagination, argument errors, `_entities` as the gateway sends it, and
 * the DataLoader batching (one SQL statement per field for 50 markets).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Candle } from '../../schema/events.ts';
import { upsertCandles } from '../../streams/store/feature-store.ts';
import { marketsSubgraph } from '../../subgraphs/markets/index.ts';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { isolate, testLogger, type Isolation } from '../support/services.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { dataOf, errorCodesOf, postGraphql as graphql } from '../support/graphql.ts';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const START = Date.UTC(2023, 3, 4, 0, 0);
const iso8601 = (ms: number) => new Date(ms).toISOString();

/** The data of a response that must have no errors. */
const data = async <T>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<T> =>
  dataOf(await graphql<T>(url, query, variables));

/** The error codes of a response that must fail. */
const errorCodes = async (url: string, query: string, variables: Record<string, unknown> = {}): Promise<string[]> =>
  errorCodesOf(await graphql(url, query, variables));

/** A pool that records the text of every statement sent through `pool.query`. */
function countingPool(connectionString: string): { pool: pg.Pool; statements: string[] } {
  const pool = new pg.Pool({ connectionString, max: 4 });
  const statements: string[] = [];
  const query = pool.query;
  pool.query = function (this: pg.Pool, ...args: unknown[]) {
    const [first] = args;
    statements.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
    return Reflect.apply(query, this, args);
  } as typeof pool.query;
  return { pool, statements };
}

function candle(pair: string, interval: string, openTime: number, i: number, ms = MINUTE): Candle {
  const flat = i % 13 === 0;
  const open = 27_000 + (i % 97) * 0.5 + 0.1;
  const close = flat ? open : open + ((i % 7) - 3) * 0.25;
  return {
    v: 1,
    pair,
    interval,
    openTime,
    closeTime: openTime + ms,
    open,
    high: flat ? open : Math.max(open, close) + 1.5 + (i % 5) * 0.1,
    low: flat ? open : Math.min(open, close) - 1.25,
    close,
    // Quarters add up exactly in binary floating point, so sums compare with equal.
    volume: flat ? 0 : (i % 13) * 0.25,
    quoteVolume: 0,
    vwap: flat ? open : (open + close) / 2,
    tradeCount: flat ? 0 : i % 13,
    flat,
    final: true,
  };
}

interface TradeInput {
  pair: string;
  tradeId: string;
  price: number;
  qty: number;
  side: 'buy' | 'sell' | null;
  time: number;
}

async function insertTrades(pool: pg.Pool, trades: readonly TradeInput[]): Promise<void> {
  await pool.query(
    `INSERT INTO trades (pair, trade_id, price, qty, side, time, source)
     SELECT pair, trade_id, price, qty, side, time, 'kraken-ws'
       FROM unnest($1::text[], $2::int8[], $3::numeric[], $4::numeric[], $5::text[], $6::timestamptz[])
            AS t(pair, trade_id, price, qty, side, time)`,
    [
      trades.map((t) => t.pair),
      trades.map((t) => t.tradeId),
      trades.map((t) => String(t.price)),
      trades.map((t) => String(t.qty)),
      trades.map((t) => t.side),
      trades.map((t) => iso8601(t.time)),
    ],
  );
}

const SIDE = { buy: 'BUY', sell: 'SELL' } as const;
const tradeJson = (t: TradeInput) => ({
  pair: t.pair,
  tradeId: t.tradeId,
  price: t.price,
  qty: t.qty,
  side: t.side === null ? null : SIDE[t.side],
  time: iso8601(t.time),
});
const candleJson = (c: Candle) => ({
  pair: c.pair,
  interval: c.interval,
  openTime: iso8601(c.openTime),
  closeTime: iso8601(c.closeTime),
  open: c.open,
  high: c.high,
  low: c.low,
  close: c.close,
  volume: c.volume,
  vwap: c.vwap,
  tradeCount: c.tradeCount,
  flat: c.flat,
});

const TRADE_FIELDS = 'pair tradeId price qty side time';
const CANDLE_FIELDS = 'pair interval openTime closeTime open high low close volume vwap tradeCount flat';

type Connection = {
  edges: { cursor: string; node: ReturnType<typeof candleJson> }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
};

describe('markets subgraph', () => {
  const BTC_MINUTES = 1500;
  const btc1m = Array.from({ length: BTC_MINUTES }, (_, i) => candle('BTC/USD', '1m', START + i * MINUTE, i));
  const btc5m = Array.from({ length: 20 }, (_, i) => candle('BTC/USD', '5m', START + i * 5 * MINUTE, i, 5 * MINUTE));
  const sol1m = Array.from({ length: 3 }, (_, i) => candle('SOL/USD', '1m', START + i * MINUTE, i + 1));
  // Two trades per second: the newest is decided by trade id among equal times.
  const btcTrades: TradeInput[] = Array.from({ length: 1006 }, (_, j) => ({
    pair: 'BTC/USD',
    tradeId: String(1000 + j),
    price: 27_000 + j * 0.01,
    qty: 0.001 * ((j % 10) + 1),
    side: j % 3 === 0 ? 'buy' : j % 3 === 1 ? 'sell' : null,
    time: START + Math.floor(j / 2) * 1000,
  }));
  const newestBtcTrades = [...btcTrades].sort((a, b) => b.time - a.time || Number(b.tradeId) - Number(a.tradeId));
  // Beyond 2^53: an ID must come back digit for digit.
  const solTrade: TradeInput = {
    pair: 'SOL/USD',
    tradeId: '9007199254740993',
    price: 21.125,
    qty: 3.5,
    side: 'sell',
    time: START + 5000,
  };

  let iso: Isolation;
  let server: RunningSubgraph;
  let url: string;

  before(async () => {
    iso = await isolate('sgmarkets');
    await upsertCandles(iso.pool, [...btc1m, ...btc5m, ...sol1m]);
    await insertTrades(iso.pool, [...btcTrades, solTrade]);
    server = await startSubgraph(marketsSubgraph({ pairs: ['BTC/USD', 'ETH/USD'] }), {
      pool: iso.pool,
      bus: new MemoryBus(),
      logger: testLogger,
      port: 0,
      host: '127.0.0.1',
    });
    url = server.url;
  });

  after(async () => {
    await server?.stop();
    await iso?.close();
  });

  it('lists the configured markets, then the other markets with candles', async () => {
    const { markets } = await data<{ markets: unknown[] }>(url, '{ markets { pair base quote } }');
    assert.deepEqual(markets, [
      { pair: 'BTC/USD', base: 'BTC', quote: 'USD' },
      { pair: 'ETH/USD', base: 'ETH', quote: 'USD' },
      { pair: 'SOL/USD', base: 'SOL', quote: 'USD' },
    ]);
  });

  it('finds a configured market without data, a market with candles, and no other', async () => {
    const result = await data<Record<string, unknown>>(
      url,
      `{ eth: market(pair: "ETH/USD") { pair base quote lastTrade { tradeId } ticker { last } trades { tradeId }
                                          candles { edges { cursor } pageInfo { hasNextPage endCursor } } }
         sol: market(pair: "SOL/USD") { pair }
         xrp: market(pair: "XRP/USD") { pair }
         junk: market(pair: "not a pair") { pair } }`,
    );
    assert.deepEqual(result, {
      eth: {
        pair: 'ETH/USD',
        base: 'ETH',
        quote: 'USD',
        lastTrade: null,
        ticker: null,
        trades: [],
        candles: { edges: [], pageInfo: { hasNextPage: false, endCursor: null } },
      },
      sol: { pair: 'SOL/USD' },
      xrp: null,
      junk: null,
    });
  });

  it('serves the newest trade, ties broken by trade id, and IDs beyond 2^53 exactly', async () => {
    const result = await data<Record<string, { lastTrade: unknown }>>(
      url,
      `{ btc: market(pair: "BTC/USD") { lastTrade { ${TRADE_FIELDS} } }
         sol: market(pair: "SOL/USD") { lastTrade { ${TRADE_FIELDS} } } }`,
    );
    // The newest second has two trades: the higher id wins.
    assert.equal(newestBtcTrades[0]?.tradeId, '2005');
    assert.equal(newestBtcTrades[1]?.time, newestBtcTrades[0]?.time);
    assert.deepEqual(result['btc']?.lastTrade, tradeJson(newestBtcTrades[0]!));
    assert.deepEqual(result['sol']?.lastTrade, tradeJson(solTrade));
  });

  it('lists trades newest first: 50 by default, `first` of them, at most 1000', async () => {
    const result = await data<Record<string, { trades: unknown[] }>>(
      url,
      `{ byDefault: market(pair: "BTC/USD") { trades { ${TRADE_FIELDS} } }
         three: market(pair: "BTC/USD") { trades(first: 3) { ${TRADE_FIELDS} } }
         none: market(pair: "BTC/USD") { trades(first: 0) { tradeId } }
         many: market(pair: "BTC/USD") { trades(first: 5000) { tradeId } } }`,
    );
    assert.deepEqual(result['byDefault']?.trades, newestBtcTrades.slice(0, 50).map(tradeJson));
    assert.deepEqual(result['three']?.trades, newestBtcTrades.slice(0, 3).map(tradeJson));
    assert.deepEqual(result['none']?.trades, []);
    assert.deepEqual(
      result['many']?.trades,
      newestBtcTrades.slice(0, 1000).map((t) => ({ tradeId: t.tradeId })),
    );
  });

  it('summarises the 24 hours of 1m candles ending with the newest in the ticker', async () => {
    const { market } = await data<{ market: { ticker: Record<string, unknown> } }>(
      url,
      '{ market(pair: "BTC/USD") { ticker { last open24h high24h low24h volume24h change24h asOf } } }',
    );
    const newest = btc1m.at(-1)!;
    const window = btc1m.filter((c) => c.openTime > newest.openTime - DAY);
    assert.equal(window.length, 1440);
    const open = window[0]!.open;
    assert.deepEqual(market.ticker, {
      last: newest.close,
      open24h: open,
      high24h: Math.max(...window.map((c) => c.high)),
      low24h: Math.min(...window.map((c) => c.low)),
      volume24h: window.reduce((sum, c) => sum + c.volume, 0),
      change24h: (newest.close - open) / open,
      asOf: iso8601(newest.closeTime),
    });
    // The window excludes older candles: their extremes would show otherwise.
    const all = btc1m.reduce((sum, c) => sum + c.volume, 0);
    assert.notEqual(market.ticker['volume24h'], all);
  });

  it('pages through every candle oldest first without gaps or duplicates', async () => {
    const seen: unknown[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const result: { market: { candles: Connection } } = await data(
        url,
        `query ($after: String) { market(pair: "BTC/USD") {
           candles(first: 100, after: $after) { edges { cursor node { ${CANDLE_FIELDS} } } pageInfo { hasNextPage endCursor } } } }`,
        { after },
      );
      const { edges, pageInfo } = result.market.candles;
      pages += 1;
      assert.equal(edges.length, 100, `page ${pages}`);
      assert.equal(pageInfo.endCursor, edges.at(-1)?.cursor);
      seen.push(...edges.map((e) => e.node));
      if (!pageInfo.hasNextPage) break;
      assert.ok(pages < 20, 'pagination does not end');
      after = pageInfo.endCursor;
    }
    assert.equal(pages, BTC_MINUTES / 100);
    // The default interval is 1m: no 5m candle on any page.
    assert.deepEqual(seen, btc1m.map(candleJson));
  });

  it('filters candles by interval and by [from, to), and caps first at 1000', async () => {
    const result = await data<Record<string, { candles: Connection }>>(
      url,
      `query ($from: DateTime, $to: DateTime) {
         fiveMinutes: market(pair: "BTC/USD") { candles(interval: "5m") { edges { node { ${CANDLE_FIELDS} } } pageInfo { hasNextPage } } }
         range: market(pair: "BTC/USD") { candles(from: $from, to: $to) { edges { node { openTime } } pageInfo { hasNextPage } } }
         rangePage: market(pair: "BTC/USD") { candles(from: $from, to: $to, first: 4) { edges { node { openTime } } pageInfo { hasNextPage } } }
         none: market(pair: "BTC/USD") { candles(first: 0) { edges { cursor } pageInfo { hasNextPage endCursor } } }
         many: market(pair: "BTC/USD") { candles(first: 5000) { edges { cursor } pageInfo { hasNextPage } } } }`,
      { from: iso8601(btc1m[10]!.openTime), to: iso8601(btc1m[20]!.openTime) },
    );
    assert.deepEqual(result['fiveMinutes']?.candles, {
      edges: btc5m.map((c) => ({ node: candleJson(c) })),
      pageInfo: { hasNextPage: false },
    });
    assert.deepEqual(result['range']?.candles, {
      edges: btc1m.slice(10, 20).map((c) => ({ node: { openTime: iso8601(c.openTime) } })),
      pageInfo: { hasNextPage: false },
    });
    assert.deepEqual(result['rangePage']?.candles.pageInfo, { hasNextPage: true });
    assert.equal(result['rangePage']?.candles.edges.length, 4);
    assert.deepEqual(result['none']?.candles, { edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
    assert.equal(result['many']?.candles.edges.length, 1000);
    assert.equal(result['many']?.candles.pageInfo.hasNextPage, true);
  });

  it('continues a page within [from, to) from a cursor', async () => {
    const first = await data<{ market: { candles: Connection } }>(
      url,
      '{ market(pair: "BTC/USD") { candles(first: 3) { edges { cursor } pageInfo { endCursor } } } }',
    );
    const result = await data<{ market: { candles: Connection } }>(
      url,
      `query ($after: String, $to: DateTime) { market(pair: "BTC/USD") {
         candles(after: $after, to: $to) { edges { node { openTime } } pageInfo { hasNextPage } } } }`,
      { after: first.market.candles.pageInfo.endCursor, to: iso8601(btc1m[6]!.openTime) },
    );
    assert.deepEqual(result.market.candles, {
      edges: btc1m.slice(3, 6).map((c) => ({ node: { openTime: iso8601(c.openTime) } })),
      pageInfo: { hasNextPage: false },
    });
  });

  it('refuses bad arguments with BAD_USER_INPUT', async () => {
    const market = (selection: string) => `{ market(pair: "BTC/USD") { ${selection} } }`;
    for (const interval of ['5x', '0m', 'm', '1M', '']) {
      assert.deepEqual(
        await errorCodes(url, market(`candles(interval: "${interval}") { edges { cursor } }`)),
        ['BAD_USER_INPUT'],
        interval,
      );
    }
    assert.deepEqual(await errorCodes(url, market('trades(first: -1) { tradeId }')), ['BAD_USER_INPUT']);
    assert.deepEqual(await errorCodes(url, market('candles(first: -1) { edges { cursor } }')), ['BAD_USER_INPUT']);
    assert.deepEqual(await errorCodes(url, market('candles(after: "bm90IGEgY3Vyc29y") { edges { cursor } }')), [
      'BAD_USER_INPUT',
    ]);
    assert.deepEqual(
      await errorCodes(
        url,
        'query ($from: DateTime) { market(pair: "BTC/USD") { candles(from: $from) { edges { cursor } } } }',
        {
          from: 'yesterday',
        },
      ),
      ['BAD_USER_INPUT'],
    );
  });

  it('resolves representations as the gateway sends them, unknown pairs to null', async () => {
    const result = await data<{ _entities: unknown[] }>(
      url,
      `query ($representations: [_Any!]!) { _entities(representations: $representations) {
         ... on Market { pair base quote lastTrade { tradeId } candles(first: 1) { edges { node { openTime close } } } } } }`,
      {
        representations: [
          { __typename: 'Market', pair: 'BTC/USD' },
          { __typename: 'Market', pair: 'XRP/USD' },
          { __typename: 'Market', pair: 'SOL/USD' },
          { __typename: 'Market', pair: 'ETH/USD' },
        ],
      },
    );
    assert.deepEqual(result._entities, [
      {
        pair: 'BTC/USD',
        base: 'BTC',
        quote: 'USD',
        lastTrade: { tradeId: newestBtcTrades[0]!.tradeId },
        candles: { edges: [{ node: { openTime: iso8601(START), close: btc1m[0]!.close } }] },
      },
      null,
      {
        pair: 'SOL/USD',
        base: 'SOL',
        quote: 'USD',
        lastTrade: { tradeId: solTrade.tradeId },
        candles: { edges: [{ node: { openTime: iso8601(START), close: sol1m[0]!.close } }] },
      },
      { pair: 'ETH/USD', base: 'ETH', quote: 'USD', lastTrade: null, candles: { edges: [] } },
    ]);
  });
});

describe('markets subgraph batching', () => {
  const PAIRS = Array.from({ length: 50 }, (_, i) => `C${String(i).padStart(2, '0')}/USD`);
  const trades: TradeInput[] = PAIRS.flatMap((pair, i) => [
    { pair, tradeId: String(10 * i + 1), price: 100 + i, qty: 1, side: 'buy', time: START },
    { pair, tradeId: String(10 * i + 2), price: 200 + i, qty: 2, side: 'sell', time: START + 1000 },
  ]);

  let iso: Isolation;
  let counted: ReturnType<typeof countingPool>;
  let server: RunningSubgraph;

  before(async () => {
    iso = await isolate('sgmarketsbatch');
    await upsertCandles(
      iso.pool,
      PAIRS.map((pair, i) => candle(pair, '1m', START, i + 1)),
    );
    await insertTrades(iso.pool, trades);
    counted = countingPool(iso.env['DATABASE_URL']!);
    // No configured pairs: resolving the representations has to look at candles too.
    server = await startSubgraph(marketsSubgraph({ pairs: [] }), {
      pool: counted.pool,
      bus: new MemoryBus(),
      logger: testLogger,
      port: 0,
      host: '127.0.0.1',
    });
  });

  after(async () => {
    await server?.stop();
    await counted?.pool.end();
    await iso?.close();
  });

  const QUERY = `query ($representations: [_Any!]!) { _entities(representations: $representations) {
    ... on Market { pair lastTrade { tradeId price } } } }`;

  it('answers lastTrade of 50 markets in one _entities request with one trades query', async () => {
    const representations = PAIRS.map((pair) => ({ __typename: 'Market', pair }));
    for (let request = 1; request <= 2; request++) {
      counted.statements.length = 0;
      const result = await data<{ _entities: unknown[] }>(server.url, QUERY, { representations });
      assert.deepEqual(
        result._entities,
        PAIRS.map((pair, i) => ({ pair, lastTrade: { tradeId: String(10 * i + 2), price: 200 + i } })),
      );
      // Per request (loaders never cache across requests): one query for which pairs are
      // markets, one for their last trades.
      assert.equal(counted.statements.filter((s) => /\bFROM trades\b/.test(s)).length, 1, `request ${request}`);
      assert.equal(counted.statements.length, 2, counted.statements.join('\n---\n'));
    }
  });
});
