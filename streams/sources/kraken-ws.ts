/**
 * Kraken WebSocket API v2 trade client.
 *
 * Protocol followed (Kraken docs):
 *  - Endpoint and v2 conventions (symbols "BTC/USD", RFC3339 timestamps):
 *    https://docs.kraken.com/exchange/api-reference/spot-websocket
 *  - trade channel: subscribe `{"method":"subscribe","params":{"channel":"trade","symbol":[...],
 *    "snapshot":bool},"req_id":n}`; one ack per symbol `{"method":"subscribe","result":{"channel":
 *    "trade","symbol":"BTC/USD","snapshot":true},"success":true,"time_in":..,"time_out":..}`;
 *    `success:false` carries `error`. Data: `{"channel":"trade","type":"snapshot"|"update","data":
 *    [{"symbol","side","price","qty","ord_type","trade_id","timestamp"}]}`; the snapshot holds the
 *    most recent 50 trades; trade_id is a sequence number unique per book.
 *    https://docs.kraken.com/api/docs/websocket-v2/trade
 *  - heartbeat channel `{"channel":"heartbeat"}`, about once a second in the absence of other
 *    channel updates, generated once any channel is subscribed:
 *    https://docs.kraken.com/api/docs/websocket-v2/heartbeat/
 *  - application ping `{"method":"ping","req_id":n}` -> `{"method":"pong","req_id":n,...}`:
 *    https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/ping
 *  - status channel, sent on connect and on engine status changes
 *    `{"channel":"status","type":"update","data":[{"system":"online","api_version":"v2",...}]}`:
 *    https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/status.md
 *
 * Behaviour:
 *  - Every frame is parsed with zod. A malformed frame (bad JSON, unknown shape) or a malformed
 *    trade entry (NaN/negative/zero price or qty, unparseable timestamp, bad symbol) is counted in
 *    `tickcast_source_frames_rejected_total{source,reason}` and logged; valid trades in the same
 *    frame are still emitted. Nothing in a frame can crash the client.
 *  - Dead connection: no pong within `pongTimeoutMs` of a ping, or no channel message (trade,
 *    heartbeat, status) for `heartbeatTimeoutMs`. The socket is terminated and the client
 *    reconnects with capped exponential backoff with jitter (reset after `resetAfterMs` of healthy
 *    connection), then resubscribes.
 *  - Dedupe: the last emitted trade_id per pair is kept across reconnects; trades with an id <=
 *    it (the snapshot after a reconnect re-sends recent trades) are dropped and counted.
 *  - Back-pressure: frames are handled one at a time and the sink is awaited; when more than
 *    `maxQueuedFrames` frames wait, the socket is paused (TCP back-pressure to Kraken).
 *  - A sink rejection stops the client: `start()` rejects with it.
 *
 * Clocks: every `clockIntervalMs`, for each pair whose subscription is acknowledged and whose
 * snapshot (or a later heartbeat) has arrived, while channel messages keep arriving, the client
 * emits `Clock{pair, time}` with
 *     time = max(newest trade time emitted for the pair, lastChannelMessageAt - clockAllowanceMs)
 * never decreasing. Kraken sends frames in order on one TCP stream and heartbeats only when no
 * other update is pending, so a frame received at local time T means every trade matched before
 * roughly T minus network latency has already been received. The allowance (default 2 s) covers
 * that latency plus clock skew between Kraken and this host. We use the arrival time of the last
 * message rather than the current wall clock so a stalled connection stops advancing the clock
 * instead of promising trades it may not have seen; no clocks are emitted while disconnected. A
 * trade later arriving with a time at or below a clock already emitted is late; downstream
 * handles it as LATE_TRADE. Raise the allowance if that shows up in metrics.
 */
import WebSocket from 'ws';
import { z } from 'zod';
import { rootLogger, type Logger } from '../../lib/logger.ts';
import { pairSchema, tradeSchema, type Clock, type MarketEvent, type Pair, type Trade } from '../../schema/events.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../lib/backoff.ts';
import {
  clocksEmitted,
  connectionState,
  duplicateTrades,
  framesRejected,
  reconnects,
  subscribeErrors,
  tradesEmitted,
} from './metrics.ts';
import type { MarketSink, TradeSource } from './source.ts';

export const KRAKEN_WS_URL = 'wss://ws.kraken.com/v2';
const SOURCE = 'kraken-ws' as const;

export type RejectReason =
  'bad_json' | 'bad_shape' | 'bad_symbol' | 'invalid_price' | 'invalid_qty' | 'bad_timestamp' | 'invalid_trade';

export interface ReconnectPolicy extends BackoffPolicy {
  /** A connection that stayed subscribed this long resets the backoff to its first step. */
  resetAfterMs: number;
}

export interface KrakenWsOptions {
  pairs: readonly Pair[];
  /** Default wss://ws.kraken.com/v2. */
  url?: string;
  /** Ask for the 50 most recent trades on (re)subscribe. Default true. */
  snapshot?: boolean;
  /** Interval between application pings. Default 10 s. */
  pingIntervalMs?: number;
  /** A ping without pong for this long marks the connection dead. Default 10 s. */
  pongTimeoutMs?: number;
  /** No trade/heartbeat/status message for this long marks the connection dead. Default 10 s (heartbeats come ~1/s). */
  heartbeatTimeoutMs?: number;
  /** WebSocket opening handshake timeout. Default 10 s. */
  connectTimeoutMs?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /** Clock emission interval; 0 disables clocks. Default 5 s. */
  clockIntervalMs?: number;
  /** How far behind the last message arrival a clock is placed. Default 2 s. */
  clockAllowanceMs?: number;
  /** Pause reading the socket when this many frames wait for the sink. Default 1000. */
  maxQueuedFrames?: number;
  /** Last trade id already processed per pair (e.g. restored from the store), for dedupe. */
  lastTradeIds?: Readonly<Record<string, number>>;
  logger?: Logger;
  /** Injectable for tests. */
  now?: () => number;
  random?: () => number;
}

const DEFAULT_RECONNECT: ReconnectPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.5,
  resetAfterMs: 30_000,
};

// ---------------------------------------------------------------------------------------------
// Wire schemas (v2). Objects are loose: Kraken may add fields (e.g. `warnings`) at any time.

const channelFrameSchema = z.looseObject({ channel: z.string() });
const methodFrameSchema = z.looseObject({ method: z.string() });

const tradeFrameSchema = z.looseObject({
  channel: z.literal('trade'),
  type: z.enum(['snapshot', 'update']),
  data: z.array(z.unknown()),
});

const tradeEntrySchema = z.looseObject({
  symbol: z.string(),
  side: z.enum(['buy', 'sell']),
  price: z.unknown(),
  qty: z.unknown(),
  ord_type: z.string().optional(),
  trade_id: z.number().int().nonnegative(),
  timestamp: z.unknown(),
});

const wirePositive = z.number().finite().positive();

const statusFrameSchema = z.looseObject({
  channel: z.literal('status'),
  type: z.string(),
  data: z.array(
    z.looseObject({
      system: z.string(),
      api_version: z.string().optional(),
      connection_id: z.number().optional(),
      version: z.string().optional(),
    }),
  ),
});

const subscribeAckSchema = z.looseObject({
  method: z.literal('subscribe'),
  success: z.boolean(),
  result: z
    .looseObject({
      channel: z.string(),
      symbol: z.string().optional(),
      snapshot: z.boolean().optional(),
      warnings: z.array(z.string()).optional(),
    })
    .optional(),
  error: z.string().optional(),
  symbol: z.string().optional(),
  req_id: z.number().optional(),
  time_in: z.string().optional(),
  time_out: z.string().optional(),
});

const pongSchema = z.looseObject({
  method: z.literal('pong'),
  req_id: z.number().optional(),
  success: z.boolean().optional(),
  error: z.string().optional(),
});

const genericResponseSchema = z.looseObject({
  method: z.string(),
  success: z.boolean().optional(),
  error: z.string().optional(),
});

// ---------------------------------------------------------------------------------------------

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * RFC3339 timestamp (Kraken: microseconds, "2022-12-25T09:30:59.123456Z") to epoch ms, floored
 * (sub-millisecond digits are truncated, never rounded up). Null when unparseable or invalid.
 */
export function parseRfc3339Ms(value: string): number | null {
  const m = RFC3339.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const base = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(base);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return null; // e.g. Feb 30
  const ms = Number((frac + '000').slice(0, 3));
  let offsetMs = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offsetMs = sign * (oh * 60 + om) * 60_000;
  }
  const result = base + ms - offsetMs;
  return Number.isFinite(result) && result >= 0 ? result : null;
}

type ParsedEntry = { ok: true; trade: Trade } | { ok: false; reason: RejectReason; detail: string };

/** Validates one entry of a v2 trade frame and converts it to a tickcast Trade. */
export function parseTradeEntry(entry: unknown): ParsedEntry {
  const shape = tradeEntrySchema.safeParse(entry);
  if (!shape.success) {
    return { ok: false, reason: 'bad_shape', detail: z.prettifyError(shape.error).replace(/\n/g, '; ') };
  }
  const e = shape.data;
  const pair = pairSchema.safeParse(e.symbol);
  if (!pair.success)
    return { ok: false, reason: 'bad_symbol', detail: `symbol ${JSON.stringify(e.symbol)} is not like BTC/USD` };
  const price = wirePositive.safeParse(e.price);
  if (!price.success) {
    return {
      ok: false,
      reason: 'invalid_price',
      detail: `price ${JSON.stringify(e.price) ?? String(e.price)} is not a finite positive number (trade_id ${e.trade_id})`,
    };
  }
  const qty = wirePositive.safeParse(e.qty);
  if (!qty.success) {
    return {
      ok: false,
      reason: 'invalid_qty',
      detail: `qty ${JSON.stringify(e.qty) ?? String(e.qty)} is not a finite positive number (trade_id ${e.trade_id})`,
    };
  }
  const time = typeof e.timestamp === 'string' ? parseRfc3339Ms(e.timestamp) : null;
  if (time === null) {
    return {
      ok: false,
      reason: 'bad_timestamp',
      detail: `timestamp ${JSON.stringify(e.timestamp) ?? String(e.timestamp)} is not RFC3339 (trade_id ${e.trade_id})`,
    };
  }
  const trade = tradeSchema.safeParse({
    v: 1,
    kind: 'trade',
    pair: pair.data,
    tradeId: e.trade_id,
    price: price.data,
    qty: qty.data,
    side: e.side,
    time,
    source: SOURCE,
  });
  if (!trade.success) {
    return { ok: false, reason: 'invalid_trade', detail: z.prettifyError(trade.error).replace(/\n/g, '; ') };
  }
  return { ok: true, trade: trade.data };
}

// ---------------------------------------------------------------------------------------------

interface PairState {
  /** Subscription acknowledged on the current connection. */
  subscribed: boolean;
  /** Snapshot (or a heartbeat after the ack) seen on the current connection: clocks may start. */
  ready: boolean;
}

interface ConnectionOutcome {
  reason: string;
  healthyForMs: number;
}

interface Connection {
  ws: WebSocket;
  pairs: Map<Pair, PairState>;
  lastChannelMessageAt: number;
  pendingPings: Map<number, number>;
  subscribedAt: number | null;
  deadReason: string | null;
  paused: boolean;
}

export class KrakenWsTradeSource implements TradeSource {
  readonly name = SOURCE;

  private readonly url: string;
  private readonly pairs: readonly Pair[];
  private readonly snapshot: boolean;
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly reconnectPolicy: ReconnectPolicy;
  private readonly clockIntervalMs: number;
  private readonly clockAllowanceMs: number;
  private readonly maxQueuedFrames: number;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;

  /** Survive reconnects: dedupe and clock monotonicity. */
  private readonly lastTradeId = new Map<Pair, number>();
  private readonly lastTradeTime = new Map<Pair, number>();
  private readonly lastClock = new Map<Pair, number>();

  private reqId = 0;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private sinkError: unknown = null;
  private running = false;

  constructor(options: KrakenWsOptions) {
    if (options.pairs.length === 0) throw new Error('KrakenWsTradeSource needs at least one pair');
    for (const pair of options.pairs) pairSchema.parse(pair);
    this.url = options.url ?? KRAKEN_WS_URL;
    this.pairs = [...new Set(options.pairs)];
    this.snapshot = options.snapshot ?? true;
    this.pingIntervalMs = options.pingIntervalMs ?? 10_000;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 10_000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.reconnectPolicy = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.clockIntervalMs = options.clockIntervalMs ?? 5_000;
    this.clockAllowanceMs = options.clockAllowanceMs ?? 2_000;
    this.maxQueuedFrames = options.maxQueuedFrames ?? 1_000;
    this.log = (options.logger ?? rootLogger).child({ module: 'source.kraken-ws' });
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    for (const [pair, id] of Object.entries(options.lastTradeIds ?? {})) this.lastTradeId.set(pair, id);
  }

  async start(sink: MarketSink, signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('KrakenWsTradeSource is already running');
    this.running = true;
    this.sinkError = null;
    let attempt = 0;
    try {
      for (let first = true; !signal.aborted; first = false) {
        if (!first) reconnects.inc({ source: SOURCE });
        const outcome = await this.runConnection(sink, signal);
        if (this.sinkError !== null) throw this.sinkError;
        if (signal.aborted) break;
        if (outcome.healthyForMs >= this.reconnectPolicy.resetAfterMs) attempt = 0;
        const delayMs = backoffDelay(attempt, this.reconnectPolicy, this.random);
        attempt += 1;
        this.log.warn(
          { url: this.url, reason: outcome.reason, attempt, delayMs },
          `Kraken WebSocket connection lost (${outcome.reason}); reconnecting in ${delayMs} ms (attempt ${attempt})`,
        );
        await sleep(delayMs, signal);
      }
    } finally {
      connectionState.set({ source: SOURCE }, 0);
      this.running = false;
    }
  }

  /** Opens one connection and resolves when it is closed and every received frame has been handled. */
  private runConnection(sink: MarketSink, signal: AbortSignal): Promise<ConnectionOutcome> {
    return new Promise<ConnectionOutcome>((resolve) => {
      connectionState.set({ source: SOURCE }, 1);
      this.log.info({ url: this.url, pairs: this.pairs }, 'connecting to Kraken WebSocket');
      const ws = new WebSocket(this.url, { handshakeTimeout: this.connectTimeoutMs });
      const conn: Connection = {
        ws,
        pairs: new Map(this.pairs.map((p) => [p, { subscribed: false, ready: false }])),
        lastChannelMessageAt: this.now(),
        pendingPings: new Map(),
        subscribedAt: null,
        deadReason: null,
        paused: false,
      };
      const timers: NodeJS.Timeout[] = [];
      let closeFallback: NodeJS.Timeout | undefined;
      let lastError: string | null = null;

      const kill = (reason: string): void => {
        if (conn.deadReason !== null) return;
        conn.deadReason = reason;
        ws.terminate();
      };

      const onAbort = (): void => {
        conn.deadReason ??= 'shutdown';
        if (ws.readyState === WebSocket.OPEN) {
          ws.close(1000, 'client shutdown');
          closeFallback = setTimeout(() => ws.terminate(), 1_000);
        } else {
          ws.terminate();
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });

      ws.on('open', () => {
        connectionState.set({ source: SOURCE }, 2);
        conn.lastChannelMessageAt = this.now();
        const request = {
          method: 'subscribe',
          params: { channel: 'trade', symbol: [...this.pairs], snapshot: this.snapshot },
          req_id: this.nextReqId(),
        };
        this.log.info({ request }, 'connected; subscribing to trade channel');
        ws.send(JSON.stringify(request));

        timers.push(
          setInterval(() => {
            if (ws.readyState !== WebSocket.OPEN) return;
            const id = this.nextReqId();
            conn.pendingPings.set(id, this.now());
            ws.send(JSON.stringify({ method: 'ping', req_id: id }));
          }, this.pingIntervalMs),
        );
        const watchEvery = Math.max(5, Math.floor(Math.min(this.pongTimeoutMs, this.heartbeatTimeoutMs) / 4));
        timers.push(setInterval(() => this.checkLiveness(conn, kill), watchEvery));
        if (this.clockIntervalMs > 0) {
          timers.push(
            setInterval(() => {
              this.enqueue(() => this.emitClocks(conn, sink), conn, kill);
            }, this.clockIntervalMs),
          );
        }
      });

      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        const text = isBinary ? null : rawToString(data);
        this.enqueue(() => this.handleFrame(text, conn, sink), conn, kill);
      });

      ws.on('error', (err: Error) => {
        lastError = err.message;
        if (!signal.aborted)
          this.log.warn({ url: this.url, err: err.message }, `Kraken WebSocket error: ${err.message}`);
      });

      ws.on('close', (code: number, reasonBuf: Buffer) => {
        for (const t of timers) clearInterval(t);
        if (closeFallback) clearTimeout(closeFallback);
        signal.removeEventListener('abort', onAbort);
        connectionState.set({ source: SOURCE }, 0);
        const closedAt = this.now();
        const reason =
          conn.deadReason ??
          lastError ??
          `connection closed (code ${code}${reasonBuf.length ? `: ${reasonBuf.toString()}` : ''})`;
        const healthyForMs = conn.subscribedAt === null ? 0 : closedAt - conn.subscribedAt;
        // Let frames already received be handled before the next connection starts.
        void this.queue.then(() => resolve({ reason, healthyForMs }));
      });
    });
  }

  private nextReqId(): number {
    this.reqId = (this.reqId % 2_000_000_000) + 1;
    return this.reqId;
  }

  private enqueue(task: () => Promise<void>, conn: Connection, kill: (reason: string) => void): void {
    this.queued += 1;
    if (!conn.paused && this.queued > this.maxQueuedFrames) {
      conn.paused = true;
      conn.ws.pause();
      this.log.warn({ queued: this.queued }, 'sink is slow; pausing the Kraken socket');
    }
    this.queue = this.queue
      .then(async () => {
        if (this.sinkError !== null) return;
        try {
          await task();
        } catch (err) {
          this.sinkError = err;
          this.log.error({ err }, 'sink failed; stopping the Kraken WebSocket source');
          kill('sink failed');
        }
      })
      .finally(() => {
        this.queued -= 1;
        if (conn.paused && this.queued <= Math.floor(this.maxQueuedFrames / 2)) {
          conn.paused = false;
          conn.lastChannelMessageAt = this.now();
          conn.pendingPings.clear();
          conn.ws.resume();
        }
      });
  }

  private checkLiveness(conn: Connection, kill: (reason: string) => void): void {
    if (conn.paused || conn.ws.readyState !== WebSocket.OPEN) return;
    const now = this.now();
    for (const sentAt of conn.pendingPings.values()) {
      if (now - sentAt > this.pongTimeoutMs) {
        this.log.warn(
          { timeoutMs: this.pongTimeoutMs },
          `no pong from Kraken within ${this.pongTimeoutMs} ms; connection considered dead`,
        );
        kill(`pong timeout after ${this.pongTimeoutMs} ms`);
        return;
      }
    }
    if (now - conn.lastChannelMessageAt > this.heartbeatTimeoutMs) {
      this.log.warn(
        { timeoutMs: this.heartbeatTimeoutMs },
        `no heartbeat or trade from Kraken within ${this.heartbeatTimeoutMs} ms; connection considered dead`,
      );
      kill(`heartbeat timeout after ${this.heartbeatTimeoutMs} ms`);
    }
  }

  private reject(reason: RejectReason, detail: string, raw: string | null): void {
    framesRejected.inc({ source: SOURCE, reason });
    this.log.warn(
      { source: SOURCE, reason, detail, frame: raw === null ? '<binary>' : truncate(raw, 300) },
      `rejected malformed Kraken frame (${reason}): ${detail}`,
    );
  }

  private async handleFrame(raw: string | null, conn: Connection, sink: MarketSink): Promise<void> {
    if (raw === null) {
      this.reject('bad_shape', 'binary frame; Kraken v2 sends JSON text', raw);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      this.reject('bad_json', `not JSON: ${(err as Error).message}`, raw);
      return;
    }

    const channel = channelFrameSchema.safeParse(json);
    if (channel.success) {
      switch (channel.data.channel) {
        case 'trade':
          conn.lastChannelMessageAt = this.now();
          await this.handleTrades(json, raw, conn, sink);
          return;
        case 'heartbeat':
          conn.lastChannelMessageAt = this.now();
          for (const state of conn.pairs.values()) if (state.subscribed) state.ready = true;
          return;
        case 'status': {
          conn.lastChannelMessageAt = this.now();
          const status = statusFrameSchema.safeParse(json);
          if (!status.success) {
            this.reject('bad_shape', `status frame: ${z.prettifyError(status.error).replace(/\n/g, '; ')}`, raw);
            return;
          }
          for (const s of status.data.data) {
            const fields = {
              system: s.system,
              apiVersion: s.api_version,
              connectionId: s.connection_id,
              version: s.version,
            };
            if (s.system === 'online') this.log.info(fields, 'Kraken status: online');
            else this.log.warn(fields, `Kraken status: ${s.system} (trades may pause)`);
          }
          return;
        }
        default:
          this.reject('bad_shape', `unexpected channel "${channel.data.channel}"`, raw);
          return;
      }
    }

    const method = methodFrameSchema.safeParse(json);
    if (method.success) {
      switch (method.data.method) {
        case 'subscribe':
          this.handleSubscribeAck(json, raw, conn);
          return;
        case 'pong': {
          const pong = pongSchema.safeParse(json);
          if (!pong.success) {
            this.reject('bad_shape', 'pong frame with unexpected fields', raw);
            return;
          }
          if (pong.data.req_id !== undefined) conn.pendingPings.delete(pong.data.req_id);
          else conn.pendingPings.clear();
          if (pong.data.success === false)
            this.log.warn({ error: pong.data.error }, `Kraken refused ping: ${pong.data.error ?? 'no message'}`);
          return;
        }
        default: {
          const generic = genericResponseSchema.safeParse(json);
          if (generic.success && generic.data.success === false) {
            this.log.error(
              { method: generic.data.method, error: generic.data.error },
              `Kraken rejected "${generic.data.method}": ${generic.data.error ?? 'no message'}`,
            );
          } else {
            this.log.debug({ frame: truncate(raw, 300) }, `ignoring "${method.data.method}" response`);
          }
          return;
        }
      }
    }

    this.reject('bad_shape', 'neither a channel message nor a method response', raw);
  }

  private handleSubscribeAck(json: unknown, raw: string, conn: Connection): void {
    const ack = subscribeAckSchema.safeParse(json);
    if (!ack.success) {
      this.reject('bad_shape', `subscribe response: ${z.prettifyError(ack.error).replace(/\n/g, '; ')}`, raw);
      return;
    }
    const symbol = ack.data.result?.symbol ?? ack.data.symbol;
    if (!ack.data.success) {
      subscribeErrors.inc({ source: SOURCE });
      this.log.error(
        { symbol, error: ack.data.error, reqId: ack.data.req_id },
        `Kraken refused the trade subscription${symbol ? ` for ${symbol}` : ''}: ${ack.data.error ?? 'no message'}`,
      );
      return;
    }
    for (const warning of ack.data.result?.warnings ?? [])
      this.log.warn({ symbol, warning }, `Kraken subscription warning: ${warning}`);
    const state = symbol === undefined ? undefined : conn.pairs.get(symbol);
    if (!state) {
      this.log.warn({ symbol }, 'subscription acknowledged for a pair that was not requested');
      return;
    }
    state.subscribed = true;
    if (!this.snapshot) state.ready = true;
    if (conn.subscribedAt === null) {
      conn.subscribedAt = this.now();
      connectionState.set({ source: SOURCE }, 3);
    }
    this.log.info({ symbol, snapshot: ack.data.result?.snapshot }, `subscribed to Kraken trades for ${symbol}`);
  }

  private async handleTrades(json: unknown, raw: string, conn: Connection, sink: MarketSink): Promise<void> {
    const frame = tradeFrameSchema.safeParse(json);
    if (!frame.success) {
      this.reject('bad_shape', `trade frame: ${z.prettifyError(frame.error).replace(/\n/g, '; ')}`, raw);
      return;
    }
    // Group valid trades by pair (first-seen order), each sorted by trade id.
    const byPair = new Map<Pair, Trade[]>();
    for (const entry of frame.data.data) {
      const parsed = parseTradeEntry(entry);
      if (!parsed.ok) {
        this.reject(parsed.reason, parsed.detail, raw);
        continue;
      }
      const list = byPair.get(parsed.trade.pair) ?? [];
      list.push(parsed.trade);
      byPair.set(parsed.trade.pair, list);
    }
    const out: Trade[] = [];
    for (const [pair, trades] of byPair) {
      trades.sort((a, b) => a.tradeId - b.tradeId);
      let dropped = 0;
      for (const trade of trades) {
        const last = this.lastTradeId.get(pair);
        if (last !== undefined && trade.tradeId <= last) {
          dropped += 1;
          continue;
        }
        this.lastTradeId.set(pair, trade.tradeId);
        out.push(trade);
      }
      if (dropped > 0) {
        duplicateTrades.inc({ source: SOURCE, pair }, dropped);
        this.log.info(
          { pair, dropped, lastTradeId: this.lastTradeId.get(pair), type: frame.data.type },
          `dropped ${dropped} already-emitted ${pair} trade(s) from a ${frame.data.type}`,
        );
      }
    }
    if (frame.data.type === 'snapshot') {
      for (const pair of byPair.keys()) {
        const state = conn.pairs.get(pair);
        if (state) state.ready = true;
      }
      // An empty snapshot names no pair; a snapshot still proves the subscribed pairs are flowing.
      if (byPair.size === 0) for (const state of conn.pairs.values()) if (state.subscribed) state.ready = true;
    }
    if (out.length === 0) return;
    await sink(out);
    for (const trade of out) {
      tradesEmitted.inc({ source: SOURCE, pair: trade.pair });
      const t = this.lastTradeTime.get(trade.pair);
      if (t === undefined || trade.time > t) this.lastTradeTime.set(trade.pair, trade.time);
    }
  }

  private async emitClocks(conn: Connection, sink: MarketSink): Promise<void> {
    if (conn.ws.readyState !== WebSocket.OPEN || conn.deadReason !== null) return;
    if (this.now() - conn.lastChannelMessageAt > this.heartbeatTimeoutMs) return;
    const clocks: Clock[] = [];
    for (const [pair, state] of conn.pairs) {
      if (!state.subscribed || !state.ready) continue;
      const time = Math.floor(
        Math.max(this.lastTradeTime.get(pair) ?? 0, conn.lastChannelMessageAt - this.clockAllowanceMs),
      );
      const previous = this.lastClock.get(pair);
      if (time <= 0 || (previous !== undefined && time <= previous)) continue;
      this.lastClock.set(pair, time);
      clocks.push({ v: 1, kind: 'clock', pair, time, source: SOURCE });
    }
    if (clocks.length === 0) return;
    const events: MarketEvent[] = clocks;
    await sink(events);
    for (const c of clocks) clocksEmitted.inc({ source: SOURCE, pair: c.pair });
  }
}

function rawToString(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}
