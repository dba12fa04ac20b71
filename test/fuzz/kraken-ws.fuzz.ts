/**
 * Kraken WebSocket v2 frames, fuzzed: the trade-entry parser on its own (thousands of
 * entries), then the real client against the local fake Kraken server, fed frame sequences
 * that mix valid trades with mutated entries, truncated and non-JSON text, deeply nested and
 * arbitrary JSON. Every entry must end up emitted, dropped as a duplicate, or counted in
 * `tickcast_source_frames_rejected_total`; the connection must survive all of it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createLogger } from '../../lib/logger.ts';
import { pairSchema, type Trade } from '../../schema/events.ts';
import { KrakenWsTradeSource, parseTradeEntry } from '../../streams/sources/kraken-ws.ts';
import { FakeKrakenWsServer, rfc3339Micros, wireTrade } from '../fakes/kraken-ws-server.ts';
import { waitFor } from '../fakes/wait.ts';
import { counterTotal, fuzzParams, hostileJsonText, hostileNumber, hostileText, hostileTimestamp } from './support.ts';

const REJECTED = 'tickcast_source_frames_rejected_total';
const SOURCE = { source: 'kraken-ws' };
const ENTRY_FIELDS = ['symbol', 'side', 'price', 'qty', 'ord_type', 'trade_id', 'timestamp'] as const;
type EntryField = (typeof ENTRY_FIELDS)[number];

/** What replaces a field: a hostile value of the kind that field would hold, or any hostile value. */
const replacementFor: Record<EntryField, fc.Arbitrary<unknown>> = {
  symbol: fc.oneof(hostileText, fc.constantFrom('BTCUSD', 'btc/usd', 'BTC/', '/USD', 'A/B', 'BTC/USD/EUR', 42)),
  side: fc.oneof(hostileText, fc.constantFrom('BUY', 'b', null, 1)),
  price: hostileNumber,
  qty: hostileNumber,
  ord_type: fc.oneof(hostileText, hostileNumber),
  trade_id: fc.oneof(hostileNumber, fc.constantFrom(-1, 1.5, '7', 2 ** 53, 1e21)),
  timestamp: hostileTimestamp,
};

type EntrySpec =
  | { kind: 'valid'; price: number; qty: number; side: 'buy' | 'sell' }
  | { kind: 'mutated'; field: EntryField; how: 'replace' | 'remove'; value: unknown }
  | { kind: 'junk'; json: string };

const entrySpec: fc.Arbitrary<EntrySpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('valid' as const),
      price: fc.double({ min: 1e-8, max: 1e9, noNaN: true }),
      qty: fc.double({ min: 1e-8, max: 1e6, noNaN: true }),
      side: fc.constantFrom('buy' as const, 'sell' as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(...ENTRY_FIELDS).chain((field) =>
      fc.record({
        kind: fc.constant('mutated' as const),
        field: fc.constant(field),
        how: fc.constantFrom('replace' as const, 'remove' as const),
        value: replacementFor[field],
      }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('junk' as const), json: hostileJsonText }) },
);

/** Builds the wire entry of a spec with the given trade id (ids are handed out at run time so they keep rising). */
function buildEntry(spec: EntrySpec, tradeId: number): unknown {
  if (spec.kind === 'junk') return JSON.parse(spec.json) as unknown;
  if (spec.kind === 'valid') {
    return wireTrade({ trade_id: tradeId, price: spec.price, qty: spec.qty, side: spec.side });
  }
  const entry: Record<string, unknown> = { ...wireTrade({ trade_id: tradeId }) };
  if (spec.how === 'remove') delete entry[spec.field];
  else entry[spec.field] = spec.value;
  return entry;
}

/** Whether a mutated entry must be refused whatever the value (its field is required and the value impossible). */
function mustReject(spec: Extract<EntrySpec, { kind: 'mutated' }>): boolean {
  if (spec.field === 'ord_type') return spec.how === 'remove' ? false : typeof spec.value !== 'string';
  if (spec.how === 'remove') return true;
  const v = spec.value;
  switch (spec.field) {
    case 'symbol':
      return !pairSchema.safeParse(v).success;
    case 'side':
      return v !== 'buy' && v !== 'sell';
    case 'price':
    case 'qty':
      return !(typeof v === 'number' && Number.isFinite(v) && v > 0);
    case 'trade_id':
      return !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
    case 'timestamp':
      return typeof v !== 'string';
  }
}

describe('fuzz: Kraken v2 trade entries (parseTradeEntry)', () => {
  it('accepts every valid entry exactly, refuses every impossible one, and never throws', () => {
    fc.assert(
      fc.property(entrySpec, fc.nat({ max: 2 ** 40 }), (spec, tradeId) => {
        const entry = buildEntry(spec, tradeId);
        const parsed = parseTradeEntry(entry);
        if (spec.kind === 'valid') {
          assert.ok(parsed.ok, `valid entry refused: ${parsed.ok ? '' : parsed.detail}`);
          assert.equal(parsed.trade.tradeId, tradeId);
          assert.equal(parsed.trade.price, spec.price);
          assert.equal(parsed.trade.qty, spec.qty);
        } else if (spec.kind === 'mutated' && mustReject(spec)) {
          assert.equal(parsed.ok, false, `accepted an entry with ${spec.field} ${spec.how}d: ${JSON.stringify(entry)}`);
        }
        if (parsed.ok) {
          // Whatever passes is a sane trade: the types downstream rely on.
          assert.ok(Number.isFinite(parsed.trade.price) && parsed.trade.price > 0);
          assert.ok(Number.isFinite(parsed.trade.qty) && parsed.trade.qty > 0);
          assert.ok(Number.isSafeInteger(parsed.trade.time) && parsed.trade.time >= 0);
        } else {
          assert.ok(parsed.detail.length > 0 && parsed.detail.length < 10_000);
        }
      }),
      fuzzParams(3_000),
    );
  });
});

type FrameSpec =
  | { kind: 'trades'; type: 'snapshot' | 'update'; entries: EntrySpec[] }
  | { kind: 'text'; text: string }
  | { kind: 'json'; json: string }
  | { kind: 'truncated'; cut: number }
  | { kind: 'heartbeat' }
  | { kind: 'channel'; channel: string }
  | { kind: 'envelope'; type: unknown; data: unknown };

const frameSpec: fc.Arbitrary<FrameSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('trades' as const),
      type: fc.constantFrom('snapshot' as const, 'update' as const),
      entries: fc.array(entrySpec, { minLength: 0, maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('text' as const), text: hostileText }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('json' as const),
      // A top-level channel or method would make it a different, legitimate kind of frame.
      json: hostileJsonText.filter((text) => !isJsonFrameOfAKnownKind(text)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncated' as const), cut: fc.double({ min: 0, max: 1 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'heartbeat' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('channel' as const),
      channel: hostileText.filter((c) => !['trade', 'heartbeat', 'status'].includes(c)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('envelope' as const),
      type: fc.oneof(hostileText, hostileNumber),
      data: fc.oneof(hostileNumber, hostileText),
    }),
  },
);

describe('fuzz: Kraken v2 frames through the real client and a local Kraken server', () => {
  let server: FakeKrakenWsServer;
  let source: KrakenWsTradeSource;
  const controller = new AbortController();
  const trades: Trade[] = [];
  let running: Promise<void>;
  let settled = false;
  let nextId = 1;

  before(async () => {
    server = await FakeKrakenWsServer.start({ heartbeatIntervalMs: 0, snapshotSize: 0 });
    source = new KrakenWsTradeSource({
      url: server.url,
      pairs: ['BTC/USD'],
      snapshot: false,
      logger: createLogger('silent'),
      clockIntervalMs: 0,
      // Long enough that a slow property run never looks like a dead connection.
      pingIntervalMs: 60_000,
      heartbeatTimeoutMs: 600_000,
      pongTimeoutMs: 600_000,
    });
    running = source
      .start(async (batch) => {
        for (const event of batch) if (event.kind === 'trade') trades.push(event);
      }, controller.signal)
      .finally(() => (settled = true));
    await waitFor(() => server.openConnections === 1 && server.subscribeRequests.length === 1, 'subscription', 10_000);
  });

  after(async () => {
    controller.abort();
    await running;
    await server.close();
  });

  it('emits, drops as duplicate or counts every entry of every frame, and keeps the connection', async () => {
    const connections = server.connectionCount;
    await fc.assert(
      fc.asyncProperty(fc.array(frameSpec, { minLength: 1, maxLength: 12 }), async (frames) => {
        const rejectedBefore = await counterTotal(REJECTED, SOURCE);
        const duplicatesBefore = await counterTotal('tickcast_source_duplicate_trades_total', SOURCE);
        const emittedBefore = trades.length;
        let expectRejected = 0;
        let expectAccepted = 0;
        const mustEmit: number[] = [];
        for (const frame of frames) {
          switch (frame.kind) {
            case 'trades': {
              const data = frame.entries.map((spec) => {
                const id = nextId++;
                const entry = buildEntry(spec, id);
                const parsed = parseTradeEntry(entry);
                if (parsed.ok) {
                  expectAccepted += 1;
                  // A mutated id above ours raises the client's dedupe mark: later ids start past it.
                  nextId = Math.max(nextId, parsed.trade.tradeId + 1);
                } else {
                  expectRejected += 1;
                }
                if (spec.kind === 'valid') mustEmit.push(id);
                // Junk goes on the wire as generated: JSON.stringify itself overflows on deep nesting.
                return spec.kind === 'junk' ? spec.json : JSON.stringify(entry);
              });
              server.sendRaw(`{"channel":"trade","type":"${frame.type}","data":[${data.join(',')}]}`);
              break;
            }
            case 'text': {
              server.sendRaw(frame.text);
              expectRejected += isJsonFrameOfAKnownKind(frame.text) ? 0 : 1;
              break;
            }
            case 'json':
              server.sendRaw(frame.json);
              expectRejected += 1;
              break;
            case 'truncated': {
              const text = JSON.stringify({
                channel: 'trade',
                type: 'update',
                data: [wireTrade({ trade_id: nextId })],
              });
              server.sendRaw(text.slice(0, Math.floor(frame.cut * (text.length - 1))));
              expectRejected += 1;
              break;
            }
            case 'heartbeat':
              server.sendRaw('{"channel":"heartbeat"}');
              break;
            case 'channel':
              server.sendRaw(JSON.stringify({ channel: frame.channel, type: 'update', data: [] }));
              expectRejected += 1;
              break;
            case 'envelope':
              server.sendRaw(JSON.stringify({ channel: 'trade', type: frame.type, data: frame.data }));
              expectRejected += 1;
              break;
          }
        }
        // A valid trade after the frames: once it is out, every frame before it was handled.
        const sentinel = nextId++;
        server.sendRaw(
          JSON.stringify({
            channel: 'trade',
            type: 'update',
            data: [wireTrade({ trade_id: sentinel, timestamp: rfc3339Micros(Date.now()) })],
          }),
        );
        await waitFor(() => trades.at(-1)?.tradeId === sentinel, `sentinel trade ${sentinel}`, 10_000);
        assert.equal(settled, false, 'the client stopped');
        const rejected = (await counterTotal(REJECTED, SOURCE)) - rejectedBefore;
        const duplicates = (await counterTotal('tickcast_source_duplicate_trades_total', SOURCE)) - duplicatesBefore;
        const emitted = trades.length - emittedBefore - 1;
        assert.equal(rejected, expectRejected, `rejected frames/entries counted (${JSON.stringify(frames)})`);
        assert.equal(emitted + duplicates, expectAccepted, 'accepted entries emitted or dropped as duplicates');
        const emittedIds = new Set(trades.slice(emittedBefore).map((t) => t.tradeId));
        for (const id of mustEmit) assert.ok(emittedIds.has(id), `valid trade ${id} was not emitted`);
      }),
      fuzzParams(300),
    );
    assert.equal(server.connectionCount, connections, 'no frame made the client reconnect');
  });
});

/** Whether hostile text happens to be a frame the client handles without a rejection (heartbeat, a method reply). */
function isJsonFrameOfAKnownKind(text: string): boolean {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return false;
  }
  return typeof json === 'object' && json !== null && ('channel' in json || 'method' in json);
}
