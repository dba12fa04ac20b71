/**
 * A local stand-in for Kraken's public REST market-data endpoints, serving an in-memory
 * dataset over real HTTP, following the documented behaviour:
 *  - GET /0/public/Trades?pair&since(ns, exclusive)&count(<=1000): result keyed by Kraken's pair
 *    name (XBTUSD -> "XXBTZUSD") with rows [price, volume, time(float s), "b"|"s", "m"|"l",
 *    misc, trade_id] and `last` (ns string).
 *    https://docs.kraken.com/api/docs/rest-api/get-recent-trades/
 *  - GET /0/public/OHLC?pair&interval&since(s, exclusive): rows [time, o, h, l, c, vwap, volume,
 *    count]; only the most recent 720 rows are served; the last row is the current, uncommitted
 *    candle and is always present; `last` = time of the last committed row returned.
 *    https://docs.kraken.com/api-reference/market-data/get-ohlc-data.md
 *  - Errors: `{"error":["EQuery:Unknown asset pair"],"result":{}}` with HTTP 200.
 *    https://support.kraken.com/hc/en-us/articles/360001491786-API-error-messages
 *  - Optional emulation of Kraken's per-IP call counter (rises by 1 per call, decays per second,
 *    `EAPI:Rate limit exceeded` above its maximum).
 *    https://docs.kraken.com/exchange/guides/rest/ratelimits.md
 *
 * Faults can be queued (each consumed by one request): Kraken error strings, raw HTTP statuses
 * (429, 503 with an HTML body...), delays. In a separate process, control it over HTTP:
 *   POST /control/faults {"faults":[Fault...]}    GET /control/requests
 * CLI: `tsx test/fakes/kraken-rest-server.ts --port 0 [--dataset file.json] [--synthetic]`
 * prints {"url"} as JSON on stdout. Dataset file: {"trades":{"XBTUSD":[FakeTrade...]},
 * "ohlc":{"XBTUSD":{"1":[FakeCandle...]}}} with timeNs as a decimal string.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface FakeTrade {
  price: string;
  volume: string;
  /** Trade time in nanoseconds since the epoch. */
  timeNs: bigint;
  side: 'b' | 's';
  ordType: 'm' | 'l';
  misc: string;
  tradeId: number;
}

export interface FakeCandle {
  /** Open time, seconds. */
  time: number;
  open: string;
  high: string;
  low: string;
  close: string;
  vwap: string;
  volume: string;
  count: number;
}

export type Fault =
  | { kind: 'kraken-error'; error: string; endpoint?: 'Trades' | 'OHLC' }
  | { kind: 'http'; status: number; body?: string; retryAfter?: string; endpoint?: 'Trades' | 'OHLC' }
  | { kind: 'delay'; ms: number; endpoint?: 'Trades' | 'OHLC' };

export interface FakeKrakenRestOptions {
  host?: string;
  port?: number;
  /** Trades per REST pair name (altname, e.g. XBTUSD), ascending by time. */
  trades?: Record<string, FakeTrade[]>;
  /** Candles per REST pair name and interval (minutes), ascending; the last one is "current". */
  ohlc?: Record<string, Record<number, FakeCandle[]>>;
  /** Altname -> key used in `result` (Kraken answers with its own name). */
  resultNames?: Record<string, string>;
  /** Max trades per Trades call (Kraken: 1000). */
  tradesMaxCount?: number;
  /** Most recent OHLC rows served (Kraken: 720). */
  ohlcMaxRows?: number;
  /** Committed OHLC rows per call, to exercise pagination (Kraken: all of them). */
  ohlcPageSize?: number;
  /** Emulate Kraken's call counter. */
  rateLimit?: { maxCounter: number; decayPerSec: number };
}

export interface RecordedRequest {
  endpoint: string;
  query: Record<string, string>;
  at: number;
  status: number;
  outcome: string;
}

const DEFAULT_RESULT_NAMES: Record<string, string> = { XBTUSD: 'XXBTZUSD', ETHUSD: 'XETHZUSD', XBTEUR: 'XXBTZEUR' };
const INTERVALS = new Set([1, 5, 15, 30, 60, 240, 1440, 10080, 21600]);

/** Float seconds exactly as decimal digits of a ns timestamp (what Kraken prints). */
function nsToSeconds(ns: bigint): number {
  const s = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return Number(frac ? `${s}.${frac}` : `${s}`);
}

/** `count` trades from `startMs`, `stepMs` apart, ids from `firstId`, prices walking up by 1. */
export function syntheticTrades(o: {
  count: number;
  startMs: number;
  stepMs: number;
  firstId?: number;
  basePrice?: number;
}): FakeTrade[] {
  const first = o.firstId ?? 1;
  return Array.from({ length: o.count }, (_, i) => ({
    price: ((o.basePrice ?? 50_000) + i).toFixed(5),
    volume: (0.001 * (i + 1)).toFixed(8),
    // a microsecond past the millisecond, like real trades, so ms floors are exercised
    timeNs: BigInt(o.startMs + i * o.stepMs) * 1_000_000n + 1_000n,
    side: i % 2 === 0 ? 'b' : 's',
    ordType: i % 3 === 0 ? 'l' : 'm',
    misc: '',
    tradeId: first + i,
  }));
}

/** `count` candles ending with the current one at `lastOpenSec`. */
export function syntheticCandles(o: { count: number; lastOpenSec: number; intervalMinutes: number }): FakeCandle[] {
  const step = o.intervalMinutes * 60;
  return Array.from({ length: o.count }, (_, i) => {
    const p = 30_000 + i;
    return {
      time: o.lastOpenSec - (o.count - 1 - i) * step,
      open: p.toFixed(1),
      high: (p + 5).toFixed(1),
      low: (p - 5).toFixed(1),
      close: (p + 1).toFixed(1),
      vwap: (p + 0.5).toFixed(1),
      volume: (1 + i / 100).toFixed(8),
      count: 10 + (i % 7),
    };
  });
}

export class FakeKrakenRestServer {
  readonly requests: RecordedRequest[] = [];
  private faults: Fault[] = [];
  private counter = 0;
  private counterAt = Date.now();

  private constructor(
    private readonly http: Server,
    readonly url: string,
    private readonly o: FakeKrakenRestOptions,
  ) {
    http.on('request', (req, res) => void this.handle(req, res));
  }

  static async start(options: FakeKrakenRestOptions = {}): Promise<FakeKrakenRestServer> {
    const http = createServer();
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 0, host, () => resolve());
    });
    const { port } = http.address() as AddressInfo;
    return new FakeKrakenRestServer(http, `http://${host}:${port}`, options);
  }

  /** Queues faults; each is consumed by the next request to its endpoint (any endpoint if unset). */
  injectFaults(faults: Fault[]): void {
    this.faults.push(...faults);
  }

  get pendingFaults(): number {
    return this.faults.length;
  }

  setTrades(restPair: string, trades: FakeTrade[]): void {
    (this.o.trades ??= {})[restPair] = trades;
  }

  setCandles(restPair: string, intervalMinutes: number, candles: FakeCandle[]): void {
    ((this.o.ohlc ??= {})[restPair] ??= {})[intervalMinutes] = candles;
  }

  async close(): Promise<void> {
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const query = Object.fromEntries(url.searchParams.entries());
    const record = (endpoint: string, status: number, outcome: string): void => {
      this.requests.push({ endpoint, query, at: Date.now(), status, outcome });
    };
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

    if (url.pathname.startsWith('/control/')) {
      if (req.method === 'GET' && url.pathname === '/control/requests') return json(200, this.requests);
      if (req.method === 'POST' && url.pathname === '/control/faults') {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { faults?: Fault[] };
          this.injectFaults(body.faults ?? []);
          return json(200, { ok: true });
        } catch (err) {
          return json(400, { error: (err as Error).message });
        }
      }
      return json(404, { error: 'not found' });
    }

    const m = /^\/0\/public\/(Trades|OHLC)$/.exec(url.pathname);
    if (!m || req.method !== 'GET') {
      record(url.pathname, 404, 'not_found');
      return json(404, { error: ['EGeneral:Unknown method'] });
    }
    const endpoint = m[1] as 'Trades' | 'OHLC';

    const faultIndex = this.faults.findIndex((f) => f.endpoint === undefined || f.endpoint === endpoint);
    if (faultIndex >= 0) {
      const [fault] = this.faults.splice(faultIndex, 1);
      if (fault?.kind === 'delay') {
        await new Promise((r) => setTimeout(r, fault.ms));
      } else if (fault?.kind === 'kraken-error') {
        record(endpoint, 200, fault.error);
        return json(200, { error: [fault.error], result: {} });
      } else if (fault?.kind === 'http') {
        record(endpoint, fault.status, `http_${fault.status}`);
        res.writeHead(fault.status, {
          'content-type': fault.body?.startsWith('{') ? 'application/json' : 'text/html',
          ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}),
        });
        res.end(fault.body ?? `<html><body>${fault.status}</body></html>`);
        return;
      }
    }

    if (this.o.rateLimit) {
      const now = Date.now();
      this.counter = Math.max(0, this.counter - ((now - this.counterAt) / 1000) * this.o.rateLimit.decayPerSec);
      this.counterAt = now;
      this.counter += 1;
      if (this.counter > this.o.rateLimit.maxCounter) {
        record(endpoint, 200, 'EAPI:Rate limit exceeded');
        return json(200, { error: ['EAPI:Rate limit exceeded'], result: {} });
      }
    }

    const pairParam = query['pair'];
    if (!pairParam) {
      record(endpoint, 200, 'EGeneral:Invalid arguments');
      return json(200, { error: ['EGeneral:Invalid arguments'], result: {} });
    }
    const names = { ...DEFAULT_RESULT_NAMES, ...this.o.resultNames };
    // Kraken accepts the altname or its own name.
    const altname = Object.keys(names).find((k) => names[k] === pairParam) ?? pairParam;
    const resultName = names[altname] ?? altname;

    if (endpoint === 'Trades') {
      const trades = this.o.trades?.[altname];
      if (!trades) {
        record(endpoint, 200, 'EQuery:Unknown asset pair');
        return json(200, { error: ['EQuery:Unknown asset pair'], result: {} });
      }
      const max = this.o.tradesMaxCount ?? 1000;
      const count = Math.min(max, Math.max(1, Number(query['count'] ?? max) || max));
      let rows: FakeTrade[];
      let since: bigint | null = null;
      if (query['since'] !== undefined) {
        if (!/^\d+$/.test(query['since'])) {
          record(endpoint, 200, 'EGeneral:Invalid arguments:since');
          return json(200, { error: ['EGeneral:Invalid arguments:since'], result: {} });
        }
        since = BigInt(query['since']);
        const s = since;
        rows = trades.filter((t) => t.timeNs > s).slice(0, count);
      } else {
        rows = trades.slice(-count);
      }
      const last = rows.length > 0 ? rows[rows.length - 1]!.timeNs.toString() : (since ?? 0n).toString();
      record(endpoint, 200, 'ok');
      return json(200, {
        error: [],
        result: {
          [resultName]: rows.map((t) => [
            t.price,
            t.volume,
            nsToSeconds(t.timeNs),
            t.side,
            t.ordType,
            t.misc,
            t.tradeId,
          ]),
          last,
        },
      });
    }

    const interval = Number(query['interval'] ?? '1');
    if (!INTERVALS.has(interval)) {
      record(endpoint, 200, 'EGeneral:Invalid arguments');
      return json(200, { error: ['EGeneral:Invalid arguments'], result: {} });
    }
    const byInterval = this.o.ohlc?.[altname];
    if (!byInterval) {
      record(endpoint, 200, 'EQuery:Unknown asset pair');
      return json(200, { error: ['EQuery:Unknown asset pair'], result: {} });
    }
    const all = byInterval[interval] ?? [];
    const served = all.slice(-(this.o.ohlcMaxRows ?? 720));
    const current = served[served.length - 1];
    const since = query['since'] !== undefined && /^\d+$/.test(query['since']) ? Number(query['since']) : null;
    const committed = served.slice(0, -1).filter((c) => since === null || c.time > since);
    const page = committed.slice(0, this.o.ohlcPageSize ?? committed.length);
    const last =
      page.length > 0 ? page[page.length - 1]!.time : (since ?? (current ? current.time - interval * 60 : 0));
    const rows = current ? [...page, current] : page;
    record(endpoint, 200, 'ok');
    return json(200, {
      error: [],
      result: {
        [resultName]: rows.map((c) => [c.time, c.open, c.high, c.low, c.close, c.vwap, c.volume, c.count]),
        last,
      },
    });
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

interface DatasetFile {
  trades?: Record<string, Array<Omit<FakeTrade, 'timeNs'> & { timeNs: string }>>;
  ohlc?: Record<string, Record<string, FakeCandle[]>>;
}

if (isMain()) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      dataset: { type: 'string' },
      synthetic: { type: 'boolean', default: false },
      'trades-max-count': { type: 'string', default: '1000' },
    },
  });
  const options: FakeKrakenRestOptions = {
    host: values.host,
    port: Number(values.port),
    tradesMaxCount: Number(values['trades-max-count']),
  };
  if (values.dataset) {
    const file = JSON.parse(readFileSync(values.dataset, 'utf8')) as DatasetFile;
    options.trades = Object.fromEntries(
      Object.entries(file.trades ?? {}).map(([pair, rows]) => [
        pair,
        rows.map((r) => ({ ...r, timeNs: BigInt(r.timeNs) })),
      ]),
    );
    options.ohlc = Object.fromEntries(
      Object.entries(file.ohlc ?? {}).map(([pair, byInterval]) => [
        pair,
        Object.fromEntries(Object.entries(byInterval).map(([i, rows]) => [Number(i), rows])),
      ]),
    );
  } else if (values.synthetic) {
    const now = Date.now();
    const dayAgo = now - 86_400_000;
    options.trades = {
      XBTUSD: syntheticTrades({ count: 5_000, startMs: dayAgo, stepMs: 17_000 }),
      ETHUSD: syntheticTrades({ count: 5_000, startMs: dayAgo, stepMs: 17_000, basePrice: 3_000 }),
    };
    const lastOpenSec = Math.floor(now / 60_000) * 60;
    options.ohlc = {
      XBTUSD: { 1: syntheticCandles({ count: 1_000, lastOpenSec, intervalMinutes: 1 }) },
      ETHUSD: { 1: syntheticCandles({ count: 1_000, lastOpenSec, intervalMinutes: 1 }) },
    };
  }
  const server = await FakeKrakenRestServer.start(options);
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
