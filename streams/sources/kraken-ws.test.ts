import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { metricValue } from '../../lib/metrics.ts';
import type { Clock, MarketEvent, Trade } from '../../schema/events.ts';
import { FakeKrakenWsServer, wireTrade, type FakeKrakenWsOptions } from '../../test/fakes/kraken-ws-server.ts';
import { waitFor } from '../../test/fakes/wait.ts';
import { backoffDelay } from '../../lib/backoff.ts';
import { KrakenWsTradeSource, parseRfc3339Ms, type KrakenWsOptions } from './kraken-ws.ts';

type LogLine = { level: number; msg: string } & Record<string, unknown>;

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

const m = (name: string, labels: Record<string, string>): Promise<number> =>
  metricValue(name, { source: 'kraken-ws', ...labels });

async function harness(serverOptions: FakeKrakenWsOptions = {}, clientOptions: Partial<KrakenWsOptions> = {}) {
  const server = await FakeKrakenWsServer.start({ heartbeatIntervalMs: 20, ...serverOptions });
  const { logger, lines } = captureLogger();
  const source = new KrakenWsTradeSource({
    url: server.url,
    pairs: ['BTC/USD'],
    logger,
    pingIntervalMs: 50,
    pongTimeoutMs: 1_000,
    heartbeatTimeoutMs: 1_000,
    clockIntervalMs: 0,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200, multiplier: 2, jitter: 0 },
    ...clientOptions,
  });
  const events: MarketEvent[] = [];
  const controller = new AbortController();
  let settled = false;
  const running = source
    .start(async (batch) => {
      events.push(...batch);
    }, controller.signal)
    .finally(() => {
      settled = true;
    });
  return {
    server,
    events,
    lines,
    running,
    isSettled: () => settled,
    trades: () => events.filter((e): e is Trade => e.kind === 'trade'),
    clocks: () => events.filter((e): e is Clock => e.kind === 'clock'),
    subscribed: (n = 1) =>
      waitFor(
        () => lines.filter((l) => l.msg.startsWith('subscribed to Kraken trades')).length >= n,
        `${n} subscription ack(s)`,
      ),
    async stop() {
      controller.abort();
      await running;
      await server.close();
    },
  };
}

describe('parseRfc3339Ms', () => {
  it('floors microsecond timestamps to epoch milliseconds', () => {
    assert.equal(parseRfc3339Ms('2022-12-25T09:30:59.123456Z'), Date.UTC(2022, 11, 25, 9, 30, 59, 123));
    assert.equal(parseRfc3339Ms('2022-12-25T09:30:59.999999Z'), Date.UTC(2022, 11, 25, 9, 30, 59, 999));
    assert.equal(parseRfc3339Ms('2022-12-25T09:30:59Z'), Date.UTC(2022, 11, 25, 9, 30, 59, 0));
    assert.equal(parseRfc3339Ms('2022-12-25T10:30:59.5+01:00'), Date.UTC(2022, 11, 25, 9, 30, 59, 500));
  });

  it('rejects unparseable or impossible timestamps', () => {
    for (const bad of [
      'yesterday',
      '2022-02-30T00:00:00Z',
      '2022-13-01T00:00:00Z',
      '2022-12-25 09:30:59Z',
      '',
      '2022-12-25T24:00:00Z',
    ]) {
      assert.equal(parseRfc3339Ms(bad), null, bad);
    }
  });
});

describe('backoffDelay', () => {
  const policy = { initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2, jitter: 0.5 };
  it('grows exponentially, is capped, and jitters down by at most the jitter fraction', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((a) => backoffDelay(a, policy, () => 1)),
      [100, 200, 400, 800],
    );
    assert.equal(
      backoffDelay(10, policy, () => 1),
      1_000,
    );
    assert.equal(
      backoffDelay(0, policy, () => 0),
      50,
    );
    assert.equal(
      backoffDelay(10, policy, () => 0),
      500,
    );
  });
});

describe('KrakenWsTradeSource against a local Kraken v2 server', () => {
  it('subscribes to the trade channel with the configured pairs and pings with req_id', async () => {
    const h = await harness({}, { pairs: ['BTC/USD', 'ETH/USD'], snapshot: false });
    try {
      await h.subscribed(2);
      const [request] = h.server.subscribeRequests;
      assert.ok(request);
      assert.ok(Number.isInteger(request['req_id']) && (request['req_id'] as number) > 0);
      assert.deepEqual(request, {
        method: 'subscribe',
        params: { channel: 'trade', symbol: ['BTC/USD', 'ETH/USD'], snapshot: false },
        req_id: request['req_id'],
      });
      const ping = await waitFor(
        () => h.server.received.find((r) => (r.message as { method?: string }).method === 'ping')?.message,
        'a ping',
      );
      assert.deepEqual(Object.keys(ping as object).sort(), ['method', 'req_id']);
      assert.ok(Number.isInteger((ping as { req_id: unknown }).req_id));
      assert.equal(await m('tickcast_source_connection_state', {}), 3);
    } finally {
      await h.stop();
    }
    assert.equal(await m('tickcast_source_connection_state', {}), 0);
  });

  it('emits the snapshot then updates as trades in trade-id order with exact fields', async () => {
    const before = await m('tickcast_source_trades_emitted_total', { pair: 'BTC/USD' });
    const server0 = { heartbeatIntervalMs: 20 };
    const h = await harness(server0);
    h.server.seed([
      wireTrade({
        trade_id: 1,
        price: 42_000.5,
        qty: 0.25,
        side: 'sell',
        ord_type: 'limit',
        timestamp: '2024-01-02T03:04:05.678901Z',
      }),
      wireTrade({ trade_id: 2, price: 42_001, qty: 1, side: 'buy', timestamp: '2024-01-02T03:04:06.000999Z' }),
      wireTrade({ trade_id: 3, price: 42_002, qty: 2, side: 'buy', timestamp: '2024-01-02T03:04:07.5Z' }),
    ]);
    try {
      await h.subscribed();
      await waitFor(() => h.trades().length === 3, 'snapshot trades');
      h.server.publish([
        wireTrade({ trade_id: 5, price: 42_010, qty: 0.5, timestamp: '2024-01-02T03:04:09.000000Z' }),
        wireTrade({ trade_id: 4, price: 42_009, qty: 0.4, timestamp: '2024-01-02T03:04:08.000000Z' }),
      ]);
      await waitFor(() => h.trades().length === 5, 'update trades');
      assert.deepEqual(h.trades()[0], {
        v: 1,
        kind: 'trade',
        pair: 'BTC/USD',
        tradeId: 1,
        price: 42_000.5,
        qty: 0.25,
        side: 'sell',
        time: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
        source: 'kraken-ws',
      });
      assert.deepEqual(
        h.trades().map((t) => t.tradeId),
        [1, 2, 3, 4, 5],
      );
      assert.deepEqual(
        h.trades().map((t) => t.time),
        [
          Date.UTC(2024, 0, 2, 3, 4, 5, 678),
          Date.UTC(2024, 0, 2, 3, 4, 6, 0),
          Date.UTC(2024, 0, 2, 3, 4, 7, 500),
          Date.UTC(2024, 0, 2, 3, 4, 8, 0),
          Date.UTC(2024, 0, 2, 3, 4, 9, 0),
        ],
      );
      assert.equal((await m('tickcast_source_trades_emitted_total', { pair: 'BTC/USD' })) - before, 5);
    } finally {
      await h.stop();
    }
  });

  it('counts malformed frames by reason and still delivers valid trades in the same stream', async () => {
    const reasons = ['bad_json', 'bad_shape', 'bad_symbol', 'invalid_price', 'invalid_qty', 'bad_timestamp'] as const;
    const before = Object.fromEntries(
      await Promise.all(
        reasons.map(async (r) => [r, await m('tickcast_source_frames_rejected_total', { reason: r })] as const),
      ),
    );
    const h = await harness({}, { snapshot: false });
    try {
      await h.subscribed();
      const ts = '2024-01-02T03:04:05.000000Z';
      const entry = (id: number, fields: Record<string, string>) =>
        `{"symbol":"BTC/USD","side":"buy","price":100,"qty":1,"ord_type":"market","trade_id":${id},"timestamp":"${ts}"${Object.entries(
          fields,
        )
          .map(([k, v]) => `,"${k}":${v}`)
          .join('')}}`;
      h.server.sendRaw('this is not json');
      h.server.sendRaw('{"channel":"trade","type":"update","data":"oops"}');
      h.server.sendRaw('{"hello":"world"}');
      h.server.sendRaw(
        `{"channel":"trade","type":"update","data":[${[
          entry(10, {}),
          entry(11, { price: '0' }),
          entry(12, { price: '-5' }),
          entry(13, { price: '"NaN"' }),
          entry(14, { price: '1e999' }),
          entry(15, { qty: '0' }),
          entry(16, { qty: 'null' }),
          entry(17, { timestamp: '"yesterday"' }),
          entry(18, { timestamp: '"2024-02-30T00:00:00.000000Z"' }),
          entry(19, { symbol: '"BTCUSD"' }),
          entry(20, {}),
        ].join(',')}]}`,
      );
      h.server.publish([wireTrade({ trade_id: 21, timeMs: Date.UTC(2024, 0, 2, 3, 4, 6) })]);
      await waitFor(() => h.trades().length === 3, 'the valid trades');
      assert.deepEqual(
        h.trades().map((t) => t.tradeId),
        [10, 20, 21],
      );
      const delta = async (r: (typeof reasons)[number]) =>
        (await m('tickcast_source_frames_rejected_total', { reason: r })) - (before[r] ?? 0);
      assert.equal(await delta('bad_json'), 1);
      assert.equal(await delta('bad_shape'), 2);
      assert.equal(await delta('invalid_price'), 4);
      assert.equal(await delta('invalid_qty'), 2);
      assert.equal(await delta('bad_timestamp'), 2);
      assert.equal(await delta('bad_symbol'), 1);
      const warn = h.lines.find((l) => l.msg.startsWith('rejected malformed Kraken frame (bad_json)'));
      assert.ok(warn, 'bad JSON is logged');
      assert.equal(warn.level, 40);
      assert.ok(h.lines.some((l) => l.msg.includes('(invalid_price)') && l.msg.includes('trade_id 11')));
      assert.equal(h.server.connectionCount, 1, 'malformed frames do not cost the connection');
      assert.equal(h.isSettled(), false);
    } finally {
      await h.stop();
    }
  });

  it('drops trades repeated by the snapshot after a reconnect, counting them, and resubscribes', async () => {
    const dupBefore = await m('tickcast_source_duplicate_trades_total', { pair: 'BTC/USD' });
    const reconnBefore = await m('tickcast_source_reconnects_total', {});
    const h = await harness();
    h.server.seed([1, 2, 3, 4, 5].map((id) => wireTrade({ trade_id: id, timeMs: 1_700_000_000_000 + id })));
    try {
      await waitFor(() => h.trades().length === 5, 'first snapshot');
      h.server.dropAll();
      h.server.seed([wireTrade({ trade_id: 6, timeMs: 1_700_000_000_006 })]);
      await waitFor(() => h.trades().length === 6, 'trade 6 from the second snapshot');
      await h.subscribed(2);
      assert.deepEqual(
        h.trades().map((t) => t.tradeId),
        [1, 2, 3, 4, 5, 6],
      );
      assert.equal((await m('tickcast_source_duplicate_trades_total', { pair: 'BTC/USD' })) - dupBefore, 5);
      assert.equal((await m('tickcast_source_reconnects_total', {})) - reconnBefore, 1);
      assert.equal(h.server.subscribeRequests.length, 2);
      assert.equal(h.server.connectionCount, 2);
    } finally {
      await h.stop();
    }
  });

  it('reconnects with exponential backoff after drops and resets the backoff after a healthy period', async () => {
    const reconnBefore = await m('tickcast_source_reconnects_total', {});
    const h = await harness(
      { dropFirstConnections: 3 },
      { reconnect: { initialDelayMs: 60, multiplier: 2, maxDelayMs: 1_000, jitter: 0, resetAfterMs: 150 } },
    );
    try {
      await h.subscribed();
      const t = h.server.connectionTimes;
      assert.equal(t.length, 4);
      const gaps = [t[1]! - t[0]!, t[2]! - t[1]!, t[3]! - t[2]!];
      assert.ok(gaps[0]! >= 55 && gaps[1]! >= 115 && gaps[2]! >= 235, `gaps ${gaps.join(',')}`);
      assert.ok(gaps[2]! > gaps[1]! && gaps[1]! > gaps[0]!, `gaps grow: ${gaps.join(',')}`);
      await new Promise((r) => setTimeout(r, 200)); // healthy for longer than resetAfterMs
      h.server.dropAll();
      await h.subscribed(2);
      const delays = h.lines
        .filter((l) => l.msg.startsWith('Kraken WebSocket connection lost'))
        .map((l) => l['delayMs']);
      assert.deepEqual(delays, [60, 120, 240, 60]);
      assert.equal((await m('tickcast_source_reconnects_total', {})) - reconnBefore, 4);
      h.server.publish([wireTrade({ trade_id: 1 })]);
      await waitFor(() => h.trades().length === 1, 'a trade after resubscribing');
    } finally {
      await h.stop();
    }
  });

  it('treats missing heartbeats as a dead connection, reconnects and resubscribes', async () => {
    const h = await harness(
      { heartbeatIntervalMs: 20 },
      { heartbeatTimeoutMs: 150, pingIntervalMs: 50, pongTimeoutMs: 2_000 },
    );
    try {
      await h.subscribed();
      await new Promise((r) => setTimeout(r, 60));
      const stoppedAt = Date.now();
      h.server.setHeartbeats(false);
      await waitFor(() => h.server.connectionCount === 2, 'a reconnection');
      assert.ok(Date.now() - stoppedAt >= 120, 'waited for the heartbeat timeout');
      h.server.setHeartbeats(true);
      await h.subscribed(2);
      assert.equal(h.server.subscribeRequests.length, 2);
      assert.ok(
        h.lines.some(
          (l) =>
            l.msg ===
            'Kraken WebSocket connection lost (heartbeat timeout after 150 ms); reconnecting in 20 ms (attempt 1)',
        ),
      );
    } finally {
      await h.stop();
    }
  });

  it('treats a missing pong as a dead connection', async () => {
    const h = await harness(
      { respondToPings: false },
      { pingIntervalMs: 40, pongTimeoutMs: 150, heartbeatTimeoutMs: 2_000 },
    );
    try {
      await h.subscribed();
      await waitFor(() => h.server.connectionCount === 2, 'a reconnection');
      assert.ok(h.lines.some((l) => l.msg.startsWith('Kraken WebSocket connection lost (pong timeout after 150 ms)')));
      assert.ok(!h.lines.some((l) => String(l.msg).includes('heartbeat timeout')));
    } finally {
      await h.stop();
    }
  });

  it('logs a refused subscription with the server message and keeps streaming the other pairs', async () => {
    const errorsBefore = await m('tickcast_source_subscribe_errors_total', {});
    const h = await harness(
      { rejectSymbols: { 'FOO/USD': 'Currency pair not supported FOO/USD' } },
      { pairs: ['BTC/USD', 'FOO/USD'], snapshot: false },
    );
    try {
      await h.subscribed();
      const error = await waitFor(() => h.lines.find((l) => l.level === 50), 'an error log');
      assert.equal(error.msg, 'Kraken refused the trade subscription for FOO/USD: Currency pair not supported FOO/USD');
      assert.equal((await m('tickcast_source_subscribe_errors_total', {})) - errorsBefore, 1);
      h.server.publish([wireTrade({ trade_id: 7 })]);
      await waitFor(() => h.trades().length === 1, 'a BTC/USD trade');
      assert.equal(h.trades()[0]?.pair, 'BTC/USD');
      assert.equal(h.server.connectionCount, 1);
      assert.equal(h.isSettled(), false);
    } finally {
      await h.stop();
    }
  });

  it('emits clocks per subscribed pair while heartbeats arrive', async () => {
    const future = Date.now() + 60_000;
    const h = await harness(
      { heartbeatIntervalMs: 20 },
      { pairs: ['BTC/USD', 'ETH/USD'], clockIntervalMs: 40, clockAllowanceMs: 500 },
    );
    h.server.seed([wireTrade({ trade_id: 1, timeMs: future })]);
    const startedAt = Date.now();
    try {
      await waitFor(() => h.clocks().filter((c) => c.pair === 'ETH/USD').length >= 3, 'three ETH/USD clocks');
      const eth = h.clocks().filter((c) => c.pair === 'ETH/USD');
      const btc = h.clocks().filter((c) => c.pair === 'BTC/USD');
      for (let i = 1; i < eth.length; i++) assert.ok(eth[i]!.time > eth[i - 1]!.time, 'ETH clocks advance');
      for (const c of eth) {
        assert.ok(c.time <= Date.now() - 500, `clock ${c.time} is behind the wall clock by the allowance`);
        assert.ok(c.time >= startedAt - 500 - 50, `clock ${c.time} follows the heartbeats`);
        assert.equal(c.source, 'kraken-ws');
      }
      // BTC/USD saw a trade stamped in the future: its clock is that trade time and does not go back.
      assert.deepEqual(
        btc.map((c) => c.time),
        [future],
      );
      const firstBtc = h.events.findIndex((e) => e.pair === 'BTC/USD');
      assert.equal(h.events[firstBtc]?.kind, 'trade', 'no clock before the snapshot');
    } finally {
      await h.stop();
    }
  });

  it('emits no clock for a pair before its snapshot has arrived', async () => {
    const future = Date.now() + 60_000;
    const h = await harness(
      { heartbeatIntervalMs: 0, snapshotDelayMs: 150 },
      { clockIntervalMs: 20, clockAllowanceMs: 500 },
    );
    h.server.seed([wireTrade({ trade_id: 1, timeMs: future })]);
    try {
      await waitFor(() => h.trades().length === 1, 'the delayed snapshot');
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(h.events[0]?.kind, 'trade');
      assert.deepEqual(
        h.clocks().map((c) => c.time),
        [future],
      );
    } finally {
      await h.stop();
    }
  });

  it('stops with the sink error when the sink fails', async () => {
    const server = await FakeKrakenWsServer.start({ heartbeatIntervalMs: 20 });
    server.seed([wireTrade({ trade_id: 1 })]);
    const source = new KrakenWsTradeSource({
      url: server.url,
      pairs: ['BTC/USD'],
      logger: captureLogger().logger,
      clockIntervalMs: 0,
    });
    const controller = new AbortController();
    try {
      await assert.rejects(
        source.start(async () => {
          throw new Error('bus is down');
        }, controller.signal),
        /bus is down/,
      );
    } finally {
      controller.abort();
      await server.close();
    }
  });
});
