import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { TickcastError } from '../../lib/errors.ts';
import { metricValue } from '../../lib/metrics.ts';
import type { Clock, MarketEvent, Trade } from '../../schema/events.ts';
import {
  FakeKrakenRestServer,
  syntheticCandles,
  syntheticTrades,
  type FakeKrakenRestOptions,
} from '../../test/fakes/kraken-rest-server.ts';
import { KrakenRestClient, KrakenRestTradeSource, type KrakenRestOptions } from './kraken-rest.ts';
import type { OhlcRow } from './kraken-rest/rows.ts';

type LogLine = { level: number; msg: string } & Record<string, unknown>;

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

const T0 = Date.UTC(2024, 0, 1);
const ns = (ms: number): string => (BigInt(ms) * 1_000_000n + 1_000n).toString(); // synthetic trades sit 1 µs past the ms

const FAST: KrakenRestOptions = {
  rateLimit: { capacity: 100, refillPerSec: 1_000 },
  retry: { initialDelayMs: 10, multiplier: 2, maxDelayMs: 1_000, jitter: 0, maxAttempts: 8 },
  progress: 'log',
  progressLogEveryMs: 0,
};

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickcast-kraken-rest-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(serverOptions: FakeKrakenRestOptions, clientOptions: KrakenRestOptions = {}) {
  const server = await FakeKrakenRestServer.start(serverOptions);
  const { logger, lines } = captureLogger();
  const client = new KrakenRestClient({ ...FAST, ...clientOptions, baseUrl: server.url, logger });
  const events: MarketEvent[] = [];
  const sink = async (batch: MarketEvent[]): Promise<void> => {
    events.push(...batch);
  };
  return {
    server,
    client,
    lines,
    events,
    sink,
    trades: () => events.filter((e): e is Trade => e.kind === 'trade'),
    clocks: () => events.filter((e): e is Clock => e.kind === 'clock'),
  };
}

describe('KrakenRestClient trades backfill against a local Kraken REST server', () => {
  it('paginates with `last` until a trade passes the requested end', async () => {
    const h = await setup({ trades: { XBTUSD: syntheticTrades({ count: 25, startMs: T0, stepMs: 1_000 }) } });
    const emittedBefore = await metricValue('tickcast_source_trades_emitted_total', {
      source: 'kraken-rest',
      pair: 'BTC/USD',
    });
    try {
      const result = await h.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0 + 2_000, endMs: T0 + 20_000, pageSize: 7 },
        h.sink,
        new AbortController().signal,
      );
      assert.deepEqual(
        h.trades().map((t) => t.tradeId),
        Array.from({ length: 19 }, (_, i) => i + 3),
      );
      assert.deepEqual(h.trades()[0], {
        v: 1,
        kind: 'trade',
        pair: 'BTC/USD',
        tradeId: 3,
        price: 50_002,
        qty: 0.003,
        side: 'buy',
        time: T0 + 2_000,
        source: 'kraken-rest',
      });
      assert.equal(h.trades()[1]?.side, 'sell');
      assert.deepEqual(
        h.server.requests.map((r) => r.query),
        [
          { pair: 'XBTUSD', since: (BigInt(T0 + 2_000) * 1_000_000n - 1n).toString(), count: '7' },
          { pair: 'XBTUSD', since: ns(T0 + 8_000), count: '7' },
          { pair: 'XBTUSD', since: ns(T0 + 15_000), count: '7' },
        ],
      );
      assert.deepEqual(
        h.clocks().map((c) => c.time),
        [T0 + 7_999, T0 + 14_999, T0 + 20_000],
      );
      assert.equal(h.events.at(-1)?.kind, 'clock', 'each page ends with its clock');
      assert.equal(result.status, 'complete');
      assert.equal(result.pages, 3);
      assert.equal(result.emitted, 19);
      assert.equal(
        (await metricValue('tickcast_source_trades_emitted_total', { source: 'kraken-rest', pair: 'BTC/USD' })) -
          emittedBefore,
        19,
      );
      const percents = h.lines.filter((l) => l.msg.startsWith('backfill trades BTC/USD:')).map((l) => l['percent']);
      assert.deepEqual(percents, [0, 33.3, 72.2, 100]);
    } finally {
      await h.server.close();
    }
  });

  it('stops when it has caught up with the newest trade before the requested end', async () => {
    const h = await setup({ trades: { XBTUSD: syntheticTrades({ count: 25, startMs: T0, stepMs: 1_000 }) } });
    try {
      const result = await h.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0 + 20_000, endMs: T0 + 100_000, pageSize: 3 },
        h.sink,
        new AbortController().signal,
      );
      assert.deepEqual(
        h.trades().map((t) => t.tradeId),
        [21, 22, 23, 24, 25],
      );
      assert.equal(h.server.requests.length, 3);
      assert.equal(result.status, 'complete');
      assert.equal(h.clocks().at(-1)?.time, T0 + 24_000);
      assert.ok(h.lines.some((l) => l.msg.startsWith("caught up with Kraken's newest BTC/USD trade")));
    } finally {
      await h.server.close();
    }
  });

  it('resumes from the checkpoint after an abort without gaps or duplicates', async () => {
    const checkpointPath = join(dir, 'resume', 'btc.json');
    const server = await FakeKrakenRestServer.start({
      trades: { XBTUSD: syntheticTrades({ count: 30, startMs: T0, stepMs: 1_000 }) },
    });
    const { logger } = captureLogger();
    const client = new KrakenRestClient({ ...FAST, baseUrl: server.url, logger });
    const req = { pair: 'BTC/USD', startMs: T0, endMs: T0 + 29_000, pageSize: 5, checkpointPath };
    const seen: Trade[] = [];
    try {
      const first = new AbortController();
      let batches = 0;
      const r1 = await client.backfillTrades(
        req,
        async (batch) => {
          seen.push(...batch.filter((e): e is Trade => e.kind === 'trade'));
          if (++batches === 2) first.abort();
        },
        first.signal,
      );
      assert.equal(r1.status, 'aborted');
      assert.equal(r1.emitted, 10);
      const cp = JSON.parse(await readFile(checkpointPath, 'utf8')) as { since: string; lastTradeId: number };
      assert.equal(cp.since, ns(T0 + 9_000));
      assert.equal(cp.lastTradeId, 10);

      const requestsBefore = server.requests.length;
      const r2 = await client.backfillTrades(
        req,
        async (batch) => {
          seen.push(...batch.filter((e): e is Trade => e.kind === 'trade'));
        },
        new AbortController().signal,
      );
      assert.equal(r2.status, 'complete');
      assert.equal(r2.resumedFrom, cp.since);
      assert.equal(server.requests[requestsBefore]?.query['since'], cp.since);
      assert.equal(r2.emitted, 20);
      assert.deepEqual(
        seen.map((t) => t.tradeId),
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
    } finally {
      await server.close();
    }
  });

  it('extends a completed backfill to a later end, dropping the boundary trade it already emitted', async () => {
    const checkpointPath = join(dir, 'extend', 'btc.json');
    const h = await setup({ trades: { XBTUSD: syntheticTrades({ count: 30, startMs: T0, stepMs: 1_000 }) } });
    const dupBefore = await metricValue('tickcast_source_duplicate_trades_total', {
      source: 'kraken-rest',
      pair: 'BTC/USD',
    });
    try {
      const r1 = await h.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0, endMs: T0 + 10_000, pageSize: 4, checkpointPath },
        h.sink,
        new AbortController().signal,
      );
      assert.equal(r1.emitted, 11);
      const r2 = await h.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0, endMs: T0 + 20_000, pageSize: 4, checkpointPath },
        h.sink,
        new AbortController().signal,
      );
      assert.equal(r2.resumedFrom, (BigInt(T0 + 10_000) * 1_000_000n).toString());
      assert.equal(r2.emitted, 10);
      assert.equal(r2.duplicates, 1);
      assert.equal(
        (await metricValue('tickcast_source_duplicate_trades_total', { source: 'kraken-rest', pair: 'BTC/USD' })) -
          dupBefore,
        1,
      );
      assert.deepEqual(
        h.trades().map((t) => t.tradeId),
        Array.from({ length: 21 }, (_, i) => i + 1),
      );
    } finally {
      await h.server.close();
    }
  });

  it('empties the token bucket after a rate-limit answer so the following calls slow down', async () => {
    const h = await setup(
      { trades: { XBTUSD: syntheticTrades({ count: 6, startMs: T0, stepMs: 1_000 }) } },
      {
        rateLimit: { capacity: 5, refillPerSec: 20 },
        retry: { initialDelayMs: 1, multiplier: 1, maxDelayMs: 1, jitter: 0, maxAttempts: 3 },
      },
    );
    h.server.injectFaults([{ kind: 'kraken-error', error: 'EAPI:Rate limit exceeded' }]);
    try {
      await h.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0, endMs: T0 + 60_000, pageSize: 2 },
        h.sink,
        new AbortController().signal,
      );
      const at = h.server.requests.map((r) => r.at);
      assert.equal(at.length, 5); // refused, 3 pages, caught-up
      // With a full bucket of 5 these would go out back to back; after the drain they come ~50 ms apart.
      for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= 30, `gap ${i}: ${at[i]! - at[i - 1]!} ms`);
    } finally {
      await h.server.close();
    }
  });

  it('backs off exponentially on rate limits and unavailability, then succeeds', async () => {
    const h = await setup({ trades: { XBTUSD: syntheticTrades({ count: 3, startMs: T0, stepMs: 1_000 }) } });
    const rl = await metricValue('tickcast_source_rest_retries_total', {
      source: 'kraken-rest',
      reason: 'rate_limited',
    });
    const un = await metricValue('tickcast_source_rest_retries_total', {
      source: 'kraken-rest',
      reason: 'unavailable',
    });
    h.server.injectFaults([
      { kind: 'kraken-error', error: 'EAPI:Rate limit exceeded' },
      { kind: 'http', status: 429, body: '{"error":["EGeneral:Too many requests"]}' },
      { kind: 'http', status: 503 },
      { kind: 'kraken-error', error: 'EService:Unavailable' },
      { kind: 'kraken-error', error: 'EGeneral:Too many requests' },
    ]);
    try {
      const result = await h.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0, endMs: T0 + 60_000 },
        h.sink,
        new AbortController().signal,
      );
      assert.equal(result.status, 'complete');
      assert.deepEqual(
        h.trades().map((t) => t.tradeId),
        [1, 2, 3],
      );
      assert.deepEqual(
        h.server.requests.slice(0, 6).map((r) => r.outcome),
        [
          'EAPI:Rate limit exceeded',
          'http_429',
          'http_503',
          'EService:Unavailable',
          'EGeneral:Too many requests',
          'ok',
        ],
      );
      const at = h.server.requests.map((r) => r.at);
      const gaps = [1, 2, 3, 4, 5].map((i) => at[i]! - at[i - 1]!);
      [10, 20, 40, 80, 160].forEach((min, i) =>
        assert.ok(gaps[i]! >= min - 2, `gap ${i} = ${gaps[i]} ms, expected >= ${min}`),
      );
      assert.equal(
        (await metricValue('tickcast_source_rest_retries_total', { source: 'kraken-rest', reason: 'rate_limited' })) -
          rl,
        3,
      );
      assert.equal(
        (await metricValue('tickcast_source_rest_retries_total', { source: 'kraken-rest', reason: 'unavailable' })) -
          un,
        2,
      );
    } finally {
      await h.server.close();
    }
  });

  it('gives up with RATE_LIMITED after the configured attempts', async () => {
    const h = await setup(
      { trades: { XBTUSD: syntheticTrades({ count: 3, startMs: T0, stepMs: 1_000 }) } },
      { retry: { initialDelayMs: 5, multiplier: 2, maxDelayMs: 100, jitter: 0, maxAttempts: 3 } },
    );
    h.server.injectFaults([1, 2, 3].map(() => ({ kind: 'kraken-error' as const, error: 'EAPI:Rate limit exceeded' })));
    try {
      await assert.rejects(
        h.client.backfillTrades(
          { pair: 'BTC/USD', startMs: T0, endMs: T0 + 60_000 },
          h.sink,
          new AbortController().signal,
        ),
        (err: unknown) =>
          err instanceof TickcastError &&
          err.code === 'RATE_LIMITED' &&
          err.retriable &&
          /after 3 attempts/.test(err.message),
      );
      assert.equal(h.server.requests.length, 3);
      assert.equal(h.trades().length, 0);
    } finally {
      await h.server.close();
    }
  });

  it('fails fast with UPSTREAM_REJECTED and a helpful message for an unknown pair', async () => {
    const h = await setup({ trades: { XBTUSD: syntheticTrades({ count: 3, startMs: T0, stepMs: 1_000 }) } });
    try {
      await assert.rejects(
        h.client.backfillTrades(
          { pair: 'FOO/USD', startMs: T0, endMs: T0 + 60_000 },
          h.sink,
          new AbortController().signal,
        ),
        (err: unknown) => {
          assert.ok(err instanceof TickcastError);
          assert.equal(err.code, 'UPSTREAM_REJECTED');
          assert.equal(err.retriable, false);
          assert.match(
            err.message,
            /Kraken does not know the pair "FOOUSD" \(tickcast pair FOO\/USD\): EQuery:Unknown asset pair/,
          );
          assert.match(err.message, /kraken-pairs\.ts/);
          assert.match(err.message, /https:\/\/api\.kraken\.com\/0\/public\/AssetPairs/);
          return true;
        },
      );
      assert.equal(h.server.requests.length, 1, 'not retried');
    } finally {
      await h.server.close();
    }
  });

  it('paces calls with the token bucket and so stays under Kraken\u2019s call counter', async () => {
    const trades = syntheticTrades({ count: 12, startMs: T0, stepMs: 1_000 });
    const serverOptions: FakeKrakenRestOptions = {
      trades: { XBTUSD: trades },
      rateLimit: { maxCounter: 2, decayPerSec: 20 },
    };
    const paced = await setup(serverOptions, { rateLimit: { capacity: 1, refillPerSec: 20 } });
    try {
      await paced.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0, endMs: T0 + 60_000, pageSize: 3 },
        paced.sink,
        new AbortController().signal,
      );
      const at = paced.server.requests.map((r) => r.at);
      assert.equal(at.length, 5);
      // 20 calls/s with a burst of 1: 4 gaps of ~50 ms (arrival times jitter by a few ms).
      assert.ok(at[4]! - at[0]! >= 185, `span ${at[4]! - at[0]!} ms`);
      for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= 30, `gap ${at[i]! - at[i - 1]!} ms`);
      assert.ok(paced.server.requests.every((r) => r.outcome === 'ok'));
      assert.equal(paced.trades().length, 12);
    } finally {
      await paced.server.close();
    }
    // Without pacing the same server starts refusing calls; retries still complete the backfill.
    const unpaced = await setup(serverOptions);
    try {
      await unpaced.client.backfillTrades(
        { pair: 'BTC/USD', startMs: T0, endMs: T0 + 60_000, pageSize: 3 },
        unpaced.sink,
        new AbortController().signal,
      );
      assert.ok(unpaced.server.requests.some((r) => r.outcome === 'EAPI:Rate limit exceeded'));
      assert.deepEqual(
        unpaced.trades().map((t) => t.tradeId),
        trades.map((t) => t.tradeId),
      );
    } finally {
      await unpaced.server.close();
    }
  });

  it('runs as a TradeSource over several pairs', async () => {
    const h = await setup({
      trades: {
        XBTUSD: syntheticTrades({ count: 4, startMs: T0, stepMs: 1_000 }),
        ETHUSD: syntheticTrades({ count: 2, startMs: T0, stepMs: 1_000, firstId: 100, basePrice: 3_000 }),
      },
    });
    try {
      const source = new KrakenRestTradeSource({
        ...FAST,
        baseUrl: h.server.url,
        logger: captureLogger().logger,
        pairs: ['BTC/USD', 'ETH/USD'],
        startMs: T0,
        endMs: T0 + 10_000,
      });
      assert.equal(source.name, 'kraken-rest');
      await source.start(h.sink, new AbortController().signal);
      assert.deepEqual(
        h.trades().map((t) => `${t.pair}#${t.tradeId}`),
        ['BTC/USD#1', 'BTC/USD#2', 'BTC/USD#3', 'BTC/USD#4', 'ETH/USD#100', 'ETH/USD#101'],
      );
      assert.deepEqual([...new Set(h.server.requests.map((r) => r.query['pair']))], ['XBTUSD', 'ETHUSD']);
    } finally {
      await h.server.close();
    }
  });
});

describe('KrakenRestClient OHLC backfill against a local Kraken REST server', () => {
  const lastOpenSec = Math.floor(Date.now() / 60_000) * 60;
  const candles = syntheticCandles({ count: 1_000, lastOpenSec, intervalMinutes: 1 });

  it('pages with `since`, drops the uncommitted candle and warns that only 720 rows are served', async () => {
    const h = await setup({ ohlc: { XBTUSD: { 1: candles } }, ohlcMaxRows: 720, ohlcPageSize: 300 });
    try {
      const pages: number[] = [];
      const result = await h.client.backfillOhlc(
        { pair: 'BTC/USD', intervalMinutes: 1, startMs: candles[0]!.time * 1000 },
        new AbortController().signal,
        async (rows: OhlcRow[]) => void pages.push(rows.length),
      );
      assert.deepEqual(pages, [300, 300, 119]);
      assert.equal(result.rows.length, 719);
      assert.equal(h.server.requests.length, 4);
      assert.equal(h.server.requests[0]?.query['since'], String(candles[0]!.time - 1));
      assert.equal(h.server.requests[1]?.query['since'], String(candles[579]!.time));
      const c = candles[280]!;
      assert.deepEqual(result.rows[0], {
        time: c.time * 1000,
        open: Number(c.open),
        high: Number(c.high),
        low: Number(c.low),
        close: Number(c.close),
        vwap: Number(c.vwap),
        volume: Number(c.volume),
        count: c.count,
      });
      assert.equal(result.rows.at(-1)?.time, candles[998]!.time * 1000, 'the current candle is not emitted');
      for (let i = 1; i < result.rows.length; i++)
        assert.equal(result.rows[i]!.time - result.rows[i - 1]!.time, 60_000);
      const warn = h.lines.find((l) => l.level === 40 && l.msg.includes('only the most recent 720 OHLC rows'));
      assert.ok(warn, 'warned about the 720-row limit');
    } finally {
      await h.server.close();
    }
  });

  it('stops at the requested end and does not warn when the range is served', async () => {
    const h = await setup({ ohlc: { XBTUSD: { 1: candles } }, ohlcMaxRows: 720, ohlcPageSize: 300 });
    try {
      const result = await h.client.backfillOhlc(
        { pair: 'BTC/USD', intervalMinutes: 1, startMs: candles[900]!.time * 1000, endMs: candles[950]!.time * 1000 },
        new AbortController().signal,
      );
      assert.deepEqual(
        result.rows.map((r) => r.time),
        candles.slice(900, 951).map((c) => c.time * 1000),
      );
      assert.equal(h.server.requests.length, 1);
      assert.ok(!h.lines.some((l) => l.msg.includes('only the most recent')));
    } finally {
      await h.server.close();
    }
  });

  it('rejects an interval Kraken does not serve before calling it', async () => {
    const h = await setup({ ohlc: { XBTUSD: { 1: candles } } });
    try {
      await assert.rejects(
        h.client.backfillOhlc({ pair: 'BTC/USD', intervalMinutes: 2, startMs: T0 }, new AbortController().signal),
        (err: unknown) =>
          err instanceof TickcastError &&
          err.code === 'CONFIG_INVALID' &&
          /1, 5, 15, 30, 60, 240, 1440, 10080, 21600/.test(err.message),
      );
      assert.equal(h.server.requests.length, 0);
    } finally {
      await h.server.close();
    }
  });
});
