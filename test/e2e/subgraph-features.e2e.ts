/**
 * The features subgraph over HTTP against real PostgreSQL, queried through `_entities` as the
 * gateway does: every field against the indicator sets inserted, argument errors, and the
 * DataLoader batching (one SQL statement for `latestFeatures` of 50 markets).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { IndicatorSet } from '../../schema/events.ts';
import { INDICATOR_NAMES } from '../../schema/indicators.ts';
import { upsertIndicators } from '../../streams/store/feature-store.ts';
import { featuresSubgraph } from '../../subgraphs/features/index.ts';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { isolate, testLogger, type Isolation } from '../support/services.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { postGraphql as graphql, type GraphQLResponse } from '../support/graphql.ts';

const MINUTE = 60_000;
const START = Date.UTC(2023, 3, 4, 0, 0);
const iso8601 = (ms: number) => new Date(ms).toISOString();

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

/**
 * Indicator n of set i: null while warming up (i < n), else a value distinct per set and
 * indicator, of either sign, zero once.
 */
function indicatorSet(pair: string, interval: string, openTime: number, i: number): IndicatorSet {
  const values = Object.fromEntries(
    INDICATOR_NAMES.map((name, n) => [name, i < n ? null : i === n ? 0 : (n % 2 ? -1 : 1) * (i * 1.5 + n / 8)]),
  );
  return { v: 1, pair, interval, openTime, close: 27_000 + i * 0.5, values };
}

const setJson = (s: IndicatorSet) => ({
  pair: s.pair,
  interval: s.interval,
  openTime: iso8601(s.openTime),
  close: s.close,
  values: INDICATOR_NAMES.map((name) => ({ name, value: s.values[name] ?? null })),
});

const SET_FIELDS = 'pair interval openTime close values { name value }';

/** `... on Market { <selection> }` for each pair, through `_entities`. */
async function entities(
  url: string,
  pairs: readonly string[],
  selection: string,
  variables: Record<string, unknown> = {},
  variableDefinitions = '',
): Promise<GraphQLResponse> {
  return graphql(
    url,
    `query ($representations: [_Any!]! ${variableDefinitions}) {
       _entities(representations: $representations) { ... on Market { ${selection} } } }`,
    { representations: pairs.map((pair) => ({ __typename: 'Market', pair })), ...variables },
  );
}

async function entityData<T>(...args: Parameters<typeof entities>): Promise<T[]> {
  const response = await entities(...args);
  assert.equal(response.errors, undefined, JSON.stringify(response.errors));
  return (response.data as { _entities: T[] })._entities;
}

describe('features subgraph', () => {
  const btc1m = Array.from({ length: 1100 }, (_, i) => indicatorSet('BTC/USD', '1m', START + i * MINUTE, i));
  const btc5m = Array.from({ length: 10 }, (_, i) => indicatorSet('BTC/USD', '5m', START + i * 5 * MINUTE, i + 30));

  let iso: Isolation;
  let server: RunningSubgraph;
  let url: string;

  before(async () => {
    iso = await isolate('sgfeatures');
    await upsertIndicators(iso.pool, [...btc1m, ...btc5m]);
    server = await startSubgraph(featuresSubgraph(), {
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

  it('serves the newest set per interval, every indicator in INDICATOR_NAMES order, and one by name', async () => {
    const [btc, eth] = await entityData<Record<string, unknown>>(
      url,
      ['BTC/USD', 'ETH/USD'],
      `pair latestFeatures { ${SET_FIELDS} rsi: value(name: rsi_14) obv: value(name: obv) }
       fiveMinutes: latestFeatures(interval: "5m") { ${SET_FIELDS} }`,
    );
    const newest = btc1m.at(-1)!;
    assert.deepEqual(btc, {
      pair: 'BTC/USD',
      latestFeatures: { ...setJson(newest), rsi: newest.values['rsi_14'], obv: newest.values['obv'] },
      fiveMinutes: setJson(btc5m.at(-1)!),
    });
    assert.equal(typeof newest.values['rsi_14'], 'number');
    assert.deepEqual(eth, { pair: 'ETH/USD', latestFeatures: null, fiveMinutes: null });
  });

  it('keeps warming-up values null, in the list and by name', async () => {
    const [btc] = await entityData<{ indicators: unknown[] }>(
      url,
      ['BTC/USD'],
      `indicators(from: $from, to: $to) { ${SET_FIELDS} sma: value(name: sma_20) vol: value(name: realized_vol_60) }`,
      { from: iso8601(btc1m[0]!.openTime), to: iso8601(btc1m[3]!.openTime) },
      ', $from: DateTime, $to: DateTime',
    );
    assert.deepEqual(
      btc?.indicators,
      btc1m.slice(0, 3).map((s) => ({
        ...setJson(s),
        sma: s.values['sma_20'],
        vol: null,
      })),
    );
    // Set 1: sma_20 has a value, ema_12 is 0, everything after it is still null.
    assert.equal(btc1m[1]!.values['sma_20'], 1.5);
    assert.equal(btc1m[1]!.values['ema_12'], 0);
    assert.equal(btc1m[1]!.values['rsi_14'], null);
  });

  it('lists the newest `last` sets oldest first: 100 by default, at most 1000', async () => {
    const [btc, eth] = await entityData<Record<string, { openTime: string }[]>>(
      url,
      ['BTC/USD', 'ETH/USD'],
      `five: indicators(last: 5) { ${SET_FIELDS} }
       byDefault: indicators { openTime }
       none: indicators(last: 0) { openTime }
       many: indicators(last: 5000) { openTime }
       fiveMinutes: indicators(interval: "5m", last: 3) { ${SET_FIELDS} }`,
    );
    const openTimes = (sets: IndicatorSet[]) => sets.map((s) => ({ openTime: iso8601(s.openTime) }));
    assert.deepEqual(btc?.['five'], btc1m.slice(-5).map(setJson));
    assert.deepEqual(btc?.['byDefault'], openTimes(btc1m.slice(-100)));
    assert.deepEqual(btc?.['none'], []);
    assert.deepEqual(btc?.['many'], openTimes(btc1m.slice(-1000)));
    assert.deepEqual(btc?.['fiveMinutes'], btc5m.slice(-3).map(setJson));
    assert.deepEqual(eth, { five: [], byDefault: [], none: [], many: [], fiveMinutes: [] });
  });

  it('takes the newest `last` sets within [from, to)', async () => {
    const [btc] = await entityData<{ indicators: unknown[] }>(
      url,
      ['BTC/USD'],
      'indicators(from: $from, to: $to, last: 4) { openTime close }',
      { from: iso8601(btc1m[10]!.openTime), to: iso8601(btc1m[20]!.openTime) },
      ', $from: DateTime, $to: DateTime',
    );
    assert.deepEqual(
      btc?.indicators,
      btc1m.slice(16, 20).map((s) => ({ openTime: iso8601(s.openTime), close: s.close })),
    );
  });

  it('refuses bad arguments with BAD_USER_INPUT', async () => {
    const codes = async (selection: string, variables: Record<string, unknown> = {}, definitions = '') => {
      const response = await entities(url, ['BTC/USD'], selection, variables, definitions);
      assert.ok(response.errors?.length, `expected errors, got ${JSON.stringify(response)}`);
      return response.errors.map((e) => e.extensions?.code ?? 'none');
    };
    for (const interval of ['1x', '0m', '15', 'h1']) {
      assert.deepEqual(await codes(`latestFeatures(interval: "${interval}") { close }`), ['BAD_USER_INPUT'], interval);
      assert.deepEqual(await codes(`indicators(interval: "${interval}") { close }`), ['BAD_USER_INPUT'], interval);
    }
    assert.deepEqual(await codes('indicators(last: -1) { close }'), ['BAD_USER_INPUT']);
    assert.deepEqual(await codes('indicators(from: $from) { close }', { from: '2023-04-04' }, ', $from: DateTime'), [
      'BAD_USER_INPUT',
    ]);
  });
});

describe('features subgraph batching', () => {
  const PAIRS = Array.from({ length: 50 }, (_, i) => `C${String(i).padStart(2, '0')}/USD`);
  const sets = PAIRS.flatMap((pair, i) => [
    indicatorSet(pair, '1m', START, i),
    indicatorSet(pair, '1m', START + MINUTE, i + 1),
    indicatorSet(pair, '5m', START, i + 2),
  ]);

  let iso: Isolation;
  let counted: ReturnType<typeof countingPool>;
  let server: RunningSubgraph;

  before(async () => {
    iso = await isolate('sgfeaturesbatch');
    await upsertIndicators(iso.pool, sets);
    counted = countingPool(iso.env['DATABASE_URL']!);
    server = await startSubgraph(featuresSubgraph(), {
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

  const expected = (pair: string, interval: string, openTime: number) =>
    setJson(sets.find((s) => s.pair === pair && s.interval === interval && s.openTime === openTime)!);

  it('answers latestFeatures of 50 markets in one _entities request with one query', async () => {
    for (let request = 1; request <= 2; request++) {
      counted.statements.length = 0;
      const result = await entityData(server.url, PAIRS, `latestFeatures { ${SET_FIELDS} }`);
      assert.deepEqual(
        result,
        PAIRS.map((pair) => ({ latestFeatures: expected(pair, '1m', START + MINUTE) })),
      );
      // Loaders are per request: each request issues its own single query.
      assert.equal(counted.statements.length, 1, `request ${request}: ${counted.statements.join('\n---\n')}`);
      assert.match(counted.statements[0]!, /\bFROM indicators\b/);
    }
  });

  it('keys latestFeatures by pair and interval: two intervals of 50 markets, still one query', async () => {
    counted.statements.length = 0;
    const result = await entityData(
      server.url,
      PAIRS,
      `m1: latestFeatures(interval: "1m") { openTime close } m5: latestFeatures(interval: "5m") { openTime close }`,
    );
    assert.deepEqual(
      result,
      PAIRS.map((pair) => {
        const m1 = expected(pair, '1m', START + MINUTE);
        const m5 = expected(pair, '5m', START);
        return { m1: { openTime: m1.openTime, close: m1.close }, m5: { openTime: m5.openTime, close: m5.close } };
      }),
    );
    assert.equal(counted.statements.length, 1, counted.statements.join('\n---\n'));
  });

  it('answers indicators of 50 markets with one query', async () => {
    counted.statements.length = 0;
    const result = await entityData(server.url, PAIRS, 'indicators(last: 2) { openTime close }');
    assert.deepEqual(
      result,
      PAIRS.map((pair) => ({
        indicators: [expected(pair, '1m', START), expected(pair, '1m', START + MINUTE)].map((s) => ({
          openTime: s.openTime,
          close: s.close,
        })),
      })),
    );
    assert.equal(counted.statements.length, 1, counted.statements.join('\n---\n'));
  });
});
