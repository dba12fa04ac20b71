/**
 * Kraken REST pages, fuzzed: the Trades and OHLC row parsers on their own, then the real
 * backfill client against the local fake Kraken REST server answering one generated page
 * (rows mixing valid and mutated trades, hostile `last` cursors, Kraken error strings,
 * truncated JSON, HTML, deeply nested JSON). The client must end in a result or a
 * TickcastError, and count every refused row and every unusable answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { TickcastError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import type { MarketEvent } from '../../schema/events.ts';
import { KrakenRestClient } from '../../streams/sources/kraken-rest.ts';
import { parseOhlcRow, parseTradeRow } from '../../streams/sources/kraken-rest/rows.ts';
import { FakeKrakenRestServer } from '../fakes/kraken-rest-server.ts';
import { counterTotal, fuzzParams, hostileJsonText, hostileNumber, hostileText, hostileTimestamp } from './support.ts';

const PAIR = 'BTC/USD';
const REST_SOURCE = { source: 'kraken-rest' };
const START_MS = Date.UTC(2023, 3, 4);
const END_MS = START_MS + 86_400_000;

type RowSpec =
  | { kind: 'valid'; price: string; volume: string; offsetMs: number }
  | { kind: 'mutated'; index: number; how: 'replace' | 'remove'; value: unknown }
  | { kind: 'junk'; json: string };

const decimalString = fc
  .tuple(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 99_999_999 }))
  .map(([whole, frac]) => `${whole}.${String(frac).padStart(8, '0')}`);

const rowSpec: fc.Arbitrary<RowSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('valid' as const),
      price: decimalString,
      volume: decimalString,
      offsetMs: fc.integer({ min: 0, max: END_MS - START_MS }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('mutated' as const),
      index: fc.integer({ min: 0, max: 7 }),
      how: fc.constantFrom('replace' as const, 'remove' as const),
      value: fc.oneof(hostileNumber, hostileText, hostileTimestamp),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('junk' as const), json: hostileJsonText }) },
);

function mutate(row: unknown[], spec: Extract<RowSpec, { kind: 'mutated' }>): void {
  const index = spec.index % row.length;
  if (spec.how === 'remove') row.splice(index, 1);
  else row[index] = spec.value;
}

/** A Trades row `[price, volume, time, side, type, misc, trade_id]`, valid or with one position mutated. */
function tradeRow(spec: RowSpec, tradeId: number): unknown {
  if (spec.kind === 'junk') return JSON.parse(spec.json) as unknown;
  const valid = spec.kind === 'valid' ? spec : { price: '28000.1', volume: '0.5', offsetMs: 1_000 };
  const row: unknown[] = [
    valid.price,
    valid.volume,
    (START_MS + valid.offsetMs) / 1000,
    tradeId % 2 ? 'b' : 's',
    'm',
    '',
    tradeId,
  ];
  if (spec.kind === 'mutated') mutate(row, spec);
  return row;
}

/** An OHLC row `[time, open, high, low, close, vwap, volume, count]`, valid or mutated. */
function ohlcRow(spec: RowSpec): unknown {
  if (spec.kind === 'junk') return JSON.parse(spec.json) as unknown;
  const p = spec.kind === 'valid' ? spec.price : '28000.1';
  const row: unknown[] = [
    START_MS / 1000 + 60 * (spec.kind === 'valid' ? spec.offsetMs % 1000 : 1),
    p,
    p,
    p,
    p,
    p,
    '1.5',
    3,
  ];
  if (spec.kind === 'mutated') mutate(row, spec);
  return row;
}

describe('fuzz: Kraken REST rows (parseTradeRow, parseOhlcRow)', () => {
  it('accepts valid rows exactly and never throws or lets an impossible value through', () => {
    fc.assert(
      fc.property(rowSpec, fc.nat({ max: 2 ** 40 }), (spec, tradeId) => {
        const trade = parseTradeRow(tradeRow(spec, tradeId), PAIR);
        const ohlc = parseOhlcRow(ohlcRow(spec));
        if (spec.kind === 'valid') {
          assert.ok(trade.ok, trade.ok ? '' : trade.detail);
          assert.equal(trade.value.price, Number(spec.price));
          assert.equal(trade.value.time, START_MS + spec.offsetMs);
          assert.ok(ohlc.ok, ohlc.ok ? '' : ohlc.detail);
        }
        if (spec.kind === 'mutated' && spec.how === 'remove') {
          assert.equal(trade.ok, false, 'a row missing a position was accepted');
          assert.equal(ohlc.ok, false, 'an OHLC row missing a position was accepted');
        }
        if (trade.ok) {
          const t = trade.value;
          assert.ok(Number.isFinite(t.price) && t.price > 0 && Number.isFinite(t.qty) && t.qty > 0);
          assert.ok(Number.isSafeInteger(t.time) && t.time >= 0 && Number.isSafeInteger(t.tradeId));
        }
        if (ohlc.ok) {
          const r = ohlc.value;
          for (const v of [r.open, r.high, r.low, r.close, r.vwap]) assert.ok(Number.isFinite(v) && v > 0);
          assert.ok(Number.isFinite(r.volume) && r.volume >= 0 && Number.isSafeInteger(r.time));
        }
      }),
      fuzzParams(3_000),
    );
  });
});

describe('Kraken REST rows the fuzzer found', () => {
  it('refuses an OHLC time that is no exact millisecond (1.7e174 s would read as past the end and stop a backfill)', () => {
    const row = [1.7365249173658578e174, '1', '1', '1', '1', '1', '1', 1];
    assert.deepEqual(parseOhlcRow(row), { ok: false, reason: 'bad_timestamp', detail: 'time 1.7365249173658578e+174' });
  });

  it('reads a trade time only as a plain decimal, not hex or exponent text', () => {
    const row = (time: unknown) => ['28000.1', '0.5', time, 'b', 'm', '', 1];
    for (const time of ['0x1A', '1e3', 'Infinity', '0b11']) {
      assert.equal(parseTradeRow(row(time), PAIR).ok, false, time);
    }
    assert.equal(parseTradeRow(row('1680566400.5'), PAIR).ok, true);
  });
});

type PageSpec =
  | { kind: 'rows'; rows: RowSpec[]; last: unknown; warnings: string[] }
  | { kind: 'body'; body: string }
  | { kind: 'kraken-error'; error: string };

const pageSpec: fc.Arbitrary<PageSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('rows' as const),
      rows: fc.array(rowSpec, { maxLength: 12 }),
      last: fc.oneof(
        fc.constant(`${BigInt(END_MS) * 1_000_000n + 1n}`),
        fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
        hostileNumber,
        hostileText,
      ),
      warnings: fc.array(
        hostileText.map((t) => `W${t}`),
        { maxLength: 2 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('body' as const),
      body: fc.oneof(
        hostileJsonText,
        hostileText,
        fc.constant('<html><body>502 Bad Gateway</body></html>'),
        fc
          .constant(JSON.stringify({ error: [], result: { XXBTZUSD: [], last: '1' } }))
          .chain((t) => fc.integer({ min: 0, max: t.length - 1 }).map((n) => t.slice(0, n))),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('kraken-error' as const),
      error: fc.oneof(
        hostileText.map((t) => `E${t}`),
        fc.constantFrom('EGeneral:Invalid arguments', 'EQuery:Unknown asset pair', 'EService:Unavailable'),
      ),
    }),
  },
);

describe('fuzz: Kraken REST pages through the real backfill client and a local Kraken server', () => {
  let server: FakeKrakenRestServer;
  let client: KrakenRestClient;
  let nextId = 1;

  before(async () => {
    server = await FakeKrakenRestServer.start({ trades: { XBTUSD: [] } });
    client = new KrakenRestClient({
      baseUrl: server.url,
      logger: createLogger('silent'),
      progress: 'off',
      rateLimit: { capacity: 1_000, refillPerSec: 1_000_000 },
      retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 },
    });
  });

  after(() => server.close());

  it('ends in a result or a TickcastError and counts every refused row and unusable answer', async () => {
    await fc.assert(
      fc.asyncProperty(pageSpec, async (page) => {
        const rows = page.kind === 'rows' ? page.rows.map((spec) => tradeRow(spec, nextId++)) : [];
        // Junk rows go on the wire as generated: JSON.stringify itself overflows on deep nesting.
        const rowsText =
          page.kind === 'rows'
            ? page.rows.map((spec, i) => (spec.kind === 'junk' ? spec.json : JSON.stringify(rows[i])))
            : [];
        const body =
          page.kind === 'rows'
            ? `{"error":${JSON.stringify(page.warnings)},"result":{"XXBTZUSD":[${rowsText.join(',')}],"last":${JSON.stringify(page.last) ?? 'null'}}}`
            : page.kind === 'body'
              ? page.body
              : JSON.stringify({ error: [page.error], result: {} });
        server.injectFaults([{ kind: 'http', status: 200, body }]);
        const rejectedBefore = await counterTotal('tickcast_source_frames_rejected_total', REST_SOURCE);
        const requestsBefore = await counterTotal('tickcast_source_rest_requests_total', REST_SOURCE);
        const events: MarketEvent[] = [];
        let outcome: Awaited<ReturnType<KrakenRestClient['backfillTrades']>> | TickcastError;
        try {
          outcome = await client.backfillTrades(
            { pair: PAIR, startMs: START_MS, endMs: END_MS, emitClocks: false },
            async (batch) => void events.push(...batch),
            AbortSignal.timeout(30_000),
          );
        } catch (error) {
          assert.ok(error instanceof TickcastError, `not a TickcastError: ${String(error)}`);
          outcome = error;
        }
        assert.equal(server.pendingFaults, 0, 'the generated page was not requested');
        const rejected = (await counterTotal('tickcast_source_frames_rejected_total', REST_SOURCE)) - rejectedBefore;
        const requests = (await counterTotal('tickcast_source_rest_requests_total', REST_SOURCE)) - requestsBefore;
        assert.ok(requests >= 1, 'requests are counted by outcome');
        for (const event of events) {
          assert.equal(event.kind, 'trade');
          // The end is the client's to enforce; the start is Kraken's (`since`), so a hostile page may reach before it.
          if (event.kind === 'trade') assert.ok(event.time <= END_MS, `trade at ${event.time} past the end`);
        }
        if (outcome instanceof TickcastError) {
          assert.equal(rejected, 0);
          return;
        }
        assert.equal(rejected, outcome.rejected, 'refused rows counted in the metric');
        if (page.kind !== 'rows') return;
        // Row by row, the way a backfill reads a page: stop at the first trade past the end.
        let processed = 0;
        for (const row of rows) {
          const parsed = parseTradeRow(row, PAIR);
          if (parsed.ok && parsed.value.time > END_MS) break;
          processed += 1;
        }
        assert.equal(outcome.emitted + outcome.duplicates + outcome.rejected, processed, 'every row accounted for');
        assert.equal(events.length, outcome.emitted);
        if (page.rows.every((r) => r.kind === 'valid')) assert.equal(outcome.emitted, rows.length);
      }),
      fuzzParams(300),
    );
  });
});
