/**
 * A local stand-in for Kraken's WebSocket API v2 (public trade channel), for tests and the
 * e2e suite. It speaks the documented protocol over a real TCP socket:
 *  - status message on connect: https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/status.md
 *  - `subscribe` to `trade` with `symbol` list and `snapshot`; one ack per symbol
 *    (`success:true` with `result`, or `success:false` with `error`); snapshot of the 50 most
 *    recent trades, then `update` frames: https://docs.kraken.com/api/docs/websocket-v2/trade
 *  - `heartbeat` frames while subscribed: https://docs.kraken.com/api/docs/websocket-v2/heartbeat/
 *  - `ping` -> `pong` with the same req_id: https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/ping
 *
 * Scriptable in-process (methods below) or, when run as a separate process, through HTTP
 * control endpoints on the same port:
 *   POST /control/publish   {"trades":[WireTrade...]}      publish trade updates
 *   POST /control/raw       {"text":"..."}                 send a raw frame to every client
 *   POST /control/drop                                     terminate every client socket
 *   POST /control/heartbeats {"on":bool}                   start/stop heartbeats
 *   POST /control/pings     {"on":bool}                    answer pings or not
 *   POST /control/reject    {"symbol":"X/Y","error":"..."} refuse subscriptions to a symbol
 *   GET  /control/received                                 messages received from clients
 *
 * CLI: `tsx test/fakes/kraken-ws-server.ts --port 0 [--heartbeat-ms 1000]
 *       [--pairs BTC/USD,ETH/USD --trades-per-sec 5]` prints {"url","controlUrl"} as JSON on
 *       stdout and runs until SIGINT/SIGTERM.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket, { WebSocketServer } from 'ws';

/** A trade as Kraken v2 puts it on the wire. Fields are loosely typed so tests can send bad values. */
export interface WireTrade {
  symbol: string;
  side: unknown;
  price: unknown;
  qty: unknown;
  ord_type: unknown;
  trade_id: unknown;
  timestamp: unknown;
}

export interface FakeKrakenWsOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Heartbeat period while a client is subscribed; 0 disables. Default 1000 (Kraken: ~1 s). */
  heartbeatIntervalMs?: number;
  /** Trades in a snapshot. Default 50 (documented). */
  snapshotSize?: number;
  respondToPings?: boolean;
  /** Symbol -> error message for subscriptions to refuse. */
  rejectSymbols?: Record<string, string>;
  /** Terminate this many incoming connections right after they open (reconnect tests). */
  dropFirstConnections?: number;
  /** Delay between a subscribe ack and its snapshot (Kraken sends it right away). */
  snapshotDelayMs?: number;
}

export interface ReceivedMessage {
  connection: number;
  at: number;
  message: unknown;
}

interface Client {
  id: number;
  ws: WebSocket;
  symbols: Set<string>;
}

/** RFC3339 with microseconds, the way Kraken v2 writes timestamps: 2022-12-25T09:30:59.123456Z. */
export function rfc3339Micros(ms: number, extraMicros = 0): string {
  return new Date(ms).toISOString().replace('Z', `${String(extraMicros).padStart(3, '0')}Z`);
}

/** Builds a well-formed wire trade; override any field. */
export function wireTrade(fields: Partial<WireTrade> & { trade_id: number; timeMs?: number }): WireTrade {
  const { timeMs, ...rest } = fields;
  return {
    symbol: 'BTC/USD',
    side: 'buy',
    price: 50_000,
    qty: 0.01,
    ord_type: 'market',
    timestamp: rfc3339Micros(timeMs ?? Date.now(), 123),
    ...rest,
  };
}

function nowStamp(): string {
  return rfc3339Micros(Date.now(), Math.floor(Math.random() * 1000));
}

export class FakeKrakenWsServer {
  readonly received: ReceivedMessage[] = [];
  /** Connections accepted so far (including dropped ones). */
  connectionCount = 0;
  readonly connectionTimes: number[] = [];

  private readonly clients = new Set<Client>();
  private readonly history = new Map<string, WireTrade[]>();
  private readonly rejects: Map<string, string>;
  private heartbeatsOn: boolean;
  private respondToPings: boolean;
  private dropFirst: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private marketTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
    readonly controlUrl: string,
    private readonly options: FakeKrakenWsOptions,
  ) {
    this.rejects = new Map(Object.entries(options.rejectSymbols ?? {}));
    this.heartbeatsOn = (options.heartbeatIntervalMs ?? 1000) > 0;
    this.respondToPings = options.respondToPings ?? true;
    this.dropFirst = options.dropFirstConnections ?? 0;
    const hb = options.heartbeatIntervalMs ?? 1000;
    if (hb > 0) {
      this.heartbeatTimer = setInterval(() => {
        if (!this.heartbeatsOn) return;
        for (const c of this.clients) if (c.symbols.size > 0) this.send(c, { channel: 'heartbeat' });
      }, hb);
    }
    wss.on('connection', (ws) => this.onConnection(ws));
    http.on('request', (req, res) => void this.onControl(req, res));
  }

  static async start(options: FakeKrakenWsOptions = {}): Promise<FakeKrakenWsServer> {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 0, host, () => resolve());
    });
    const { port } = http.address() as AddressInfo;
    return new FakeKrakenWsServer(http, wss, `ws://${host}:${port}/v2`, `http://${host}:${port}/control`, options);
  }

  /** Subscribe requests received, in order. */
  get subscribeRequests(): Array<Record<string, unknown>> {
    return this.received
      .map((r) => r.message)
      .filter(
        (m): m is Record<string, unknown> =>
          typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'subscribe',
      );
  }

  get openConnections(): number {
    return this.clients.size;
  }

  /** Adds trades to the history (served in later snapshots) without sending them. */
  seed(trades: WireTrade[]): void {
    for (const t of trades) {
      const list = this.history.get(t.symbol) ?? [];
      list.push(t);
      this.history.set(t.symbol, list);
    }
  }

  /** Adds trades to the history and sends one update frame per symbol to subscribed clients. */
  publish(trades: WireTrade[]): void {
    this.seed(trades);
    const bySymbol = new Map<string, WireTrade[]>();
    for (const t of trades) bySymbol.set(t.symbol, [...(bySymbol.get(t.symbol) ?? []), t]);
    for (const [symbol, data] of bySymbol) {
      for (const c of this.clients) {
        if (c.symbols.has(symbol)) this.send(c, { channel: 'trade', type: 'update', data });
      }
    }
  }

  /** Sends a raw text frame (need not be JSON) to every connected client. */
  sendRaw(text: string): void {
    for (const c of this.clients) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(text);
  }

  /** Terminates every client socket without a close handshake (like a network drop). */
  dropAll(): void {
    for (const c of this.clients) c.ws.terminate();
  }

  setHeartbeats(on: boolean): void {
    this.heartbeatsOn = on;
  }

  setRespondToPings(on: boolean): void {
    this.respondToPings = on;
  }

  rejectSymbol(symbol: string, error: string): void {
    this.rejects.set(symbol, error);
  }

  /** Publishes random-walk trades for `pairs` at `perSecond` (for manual and e2e runs). */
  startSyntheticMarket(pairs: string[], perSecond: number): void {
    const price = new Map(pairs.map((p, i) => [p, 100 * (i + 1) * 10]));
    const ids = new Map(pairs.map((p) => [p, (this.history.get(p)?.length ?? 0) + 1]));
    this.marketTimer = setInterval(
      () => {
        const pair = pairs[Math.floor(Math.random() * pairs.length)];
        if (!pair) return;
        const p = Math.max(0.01, (price.get(pair) ?? 100) * (1 + (Math.random() - 0.5) / 500));
        price.set(pair, p);
        const id = ids.get(pair) ?? 1;
        ids.set(pair, id + 1);
        this.publish([
          wireTrade({
            symbol: pair,
            trade_id: id,
            price: Number(p.toFixed(2)),
            qty: Number((Math.random() * 2).toFixed(6)) || 0.001,
            side: Math.random() < 0.5 ? 'buy' : 'sell',
            ord_type: Math.random() < 0.7 ? 'market' : 'limit',
            timeMs: Date.now(),
          }),
        ]);
      },
      Math.max(1, Math.round(1000 / perSecond)),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.marketTimer);
    for (const c of this.clients) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private send(c: Client, message: unknown): void {
    if (c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify(message));
  }

  private onConnection(ws: WebSocket): void {
    this.connectionCount += 1;
    this.connectionTimes.push(Date.now());
    const client: Client = { id: this.connectionCount, ws, symbols: new Set() };
    if (this.dropFirst > 0) {
      this.dropFirst -= 1;
      ws.terminate();
      return;
    }
    this.clients.add(client);
    ws.on('close', () => this.clients.delete(client));
    ws.on('error', () => this.clients.delete(client));
    this.send(client, {
      channel: 'status',
      type: 'update',
      data: [{ version: '2.0.0', system: 'online', api_version: 'v2', connection_id: 1000 + client.id }],
    });
    ws.on('message', (data) => {
      const text = data.toString();
      let message: unknown = text;
      try {
        message = JSON.parse(text);
      } catch {
        // keep raw text
      }
      this.received.push({ connection: client.id, at: Date.now(), message });
      this.onClientMessage(client, message);
    });
  }

  private onClientMessage(c: Client, message: unknown): void {
    const timeIn = nowStamp();
    if (typeof message !== 'object' || message === null) {
      this.send(c, { error: 'Malformed request', success: false, time_in: timeIn, time_out: nowStamp() });
      return;
    }
    const m = message as {
      method?: unknown;
      req_id?: unknown;
      params?: { channel?: unknown; symbol?: unknown; snapshot?: unknown };
    };
    const reqId = typeof m.req_id === 'number' ? { req_id: m.req_id } : {};
    if (m.method === 'ping') {
      if (this.respondToPings) this.send(c, { method: 'pong', ...reqId, time_in: timeIn, time_out: nowStamp() });
      return;
    }
    if (m.method === 'subscribe') {
      const channel = m.params?.channel;
      const symbols = Array.isArray(m.params?.symbol)
        ? (m.params.symbol as unknown[]).filter((s): s is string => typeof s === 'string')
        : [];
      const snapshot = m.params?.snapshot !== false;
      if (channel !== 'trade' || symbols.length === 0) {
        this.send(c, {
          error: channel !== 'trade' ? 'Channel not supported' : 'Missing symbol',
          method: 'subscribe',
          success: false,
          ...reqId,
          time_in: timeIn,
          time_out: nowStamp(),
        });
        return;
      }
      for (const symbol of symbols) {
        const error = this.rejects.get(symbol);
        if (error !== undefined) {
          this.send(c, {
            error,
            method: 'subscribe',
            ...reqId,
            success: false,
            symbol,
            time_in: timeIn,
            time_out: nowStamp(),
          });
          continue;
        }
        c.symbols.add(symbol);
        this.send(c, {
          method: 'subscribe',
          result: { channel: 'trade', snapshot, symbol },
          success: true,
          ...reqId,
          time_in: timeIn,
          time_out: nowStamp(),
        });
        if (snapshot) {
          const sendSnapshot = (): void => {
            const data = (this.history.get(symbol) ?? []).slice(-(this.options.snapshotSize ?? 50));
            this.send(c, { channel: 'trade', type: 'snapshot', data });
          };
          if (this.options.snapshotDelayMs) setTimeout(sendSnapshot, this.options.snapshotDelayMs);
          else sendSnapshot();
        }
      }
      return;
    }
    if (m.method === 'unsubscribe') {
      const symbols = Array.isArray(m.params?.symbol) ? (m.params.symbol as unknown[]) : [];
      for (const s of symbols) if (typeof s === 'string') c.symbols.delete(s);
      this.send(c, { method: 'unsubscribe', success: true, ...reqId, time_in: timeIn, time_out: nowStamp() });
      return;
    }
    this.send(c, {
      error: `Method not found: ${String(m.method)}`,
      method: m.method,
      success: false,
      ...reqId,
      time_in: timeIn,
      time_out: nowStamp(),
    });
  }

  private async onControl(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Upgrade requests never reach here; plain HTTP only.
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/control/received') return reply(200, this.received);
      if (req.method !== 'POST') return reply(404, { error: 'not found' });
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
      switch (path) {
        case '/control/publish':
          this.publish((body['trades'] as WireTrade[] | undefined) ?? []);
          return reply(200, { ok: true });
        case '/control/raw':
          this.sendRaw(String(body['text'] ?? ''));
          return reply(200, { ok: true });
        case '/control/drop':
          this.dropAll();
          return reply(200, { ok: true });
        case '/control/heartbeats':
          this.setHeartbeats(body['on'] !== false);
          return reply(200, { ok: true });
        case '/control/pings':
          this.setRespondToPings(body['on'] !== false);
          return reply(200, { ok: true });
        case '/control/reject':
          this.rejectSymbol(String(body['symbol']), String(body['error'] ?? 'Currency pair not supported'));
          return reply(200, { ok: true });
        default:
          return reply(404, { error: 'not found' });
      }
    } catch (err) {
      return reply(400, { error: (err as Error).message });
    }
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

if (isMain()) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'heartbeat-ms': { type: 'string', default: '1000' },
      pairs: { type: 'string', default: '' },
      'trades-per-sec': { type: 'string', default: '0' },
    },
  });
  const server = await FakeKrakenWsServer.start({
    host: values.host,
    port: Number(values.port),
    heartbeatIntervalMs: Number(values['heartbeat-ms']),
  });
  const pairs = values.pairs.split(',').filter(Boolean);
  const rate = Number(values['trades-per-sec']);
  if (pairs.length > 0 && rate > 0) server.startSyntheticMarket(pairs, rate);
  process.stdout.write(`${JSON.stringify({ url: server.url, controlUrl: server.controlUrl })}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
