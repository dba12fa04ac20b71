/**
 * The predictions subgraph on real PostgreSQL, queried over HTTP as the gateway queries it:
 * root fields, `_entities` for Market and Prediction, argument errors, and DataLoader
 * batching counted at the pool.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { predictionsSubgraph } from '../../subgraphs/predictions/index.ts';
import { isolate, testLogger, type Isolation } from '../support/services.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { dataOf, postGraphql, type GraphQLResponse } from '../support/graphql.ts';

/** Every statement sent through `pool.query` since the last reset. */
function recordQueries(pool: pg.Pool): { readonly statements: string[]; reset(): void } {
  const statements: string[] = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const [first] = args;
    statements.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
    return query(...args);
  }) as unknown as typeof pool.query;
  return { statements, reset: () => void (statements.length = 0) };
}

interface PredictionInsert {
  id: string;
  pair: string;
  horizon: number;
  madeAt: string;
  targetTime: string;
  predicted: number;
  lower: number | null;
  upper: number | null;
  model: string;
  version: string;
  actual: number | null;
  error: number | null;
}

async function insertPredictions(pool: pg.Pool, rows: PredictionInsert[]): Promise<void> {
  for (const r of rows) {
    await pool.query(
      `INSERT INTO predictions (id, pair, horizon_minutes, made_at, target_time, predicted_price, lower_bound,
         upper_bound, model_name, model_version, actual_price, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        r.id,
        r.pair,
        r.horizon,
        r.madeAt,
        r.targetTime,
        r.predicted,
        r.lower,
        r.upper,
        r.model,
        r.version,
        r.actual,
        r.error,
      ],
    );
  }
}

/** The API's view of an inserted prediction: every field. */
const expected = (r: PredictionInsert) => ({
  id: r.id,
  pair: r.pair,
  market: { pair: r.pair },
  horizonMinutes: r.horizon,
  madeAt: r.madeAt,
  targetTime: r.targetTime,
  predictedPrice: r.predicted,
  lowerBound: r.lower,
  upperBound: r.upper,
  modelVersion: { modelName: r.model, version: r.version },
  actualPrice: r.actual,
  error: r.error,
});

const ALL_FIELDS = `id pair market { pair } horizonMinutes madeAt targetTime predictedPrice lowerBound upperBound
  modelVersion { modelName version } actualPrice error`;

// BTC/USD: two 5-minute predictions and a newer 15-minute one; ETH/USD: one with no
// interval and no outcome yet; two at the same instant on SOL/USD (the greater id wins).
const BTC_OLD: PredictionInsert = {
  id: 'btc-5-a',
  pair: 'BTC/USD',
  horizon: 5,
  madeAt: '2024-05-01T10:00:00.000Z',
  targetTime: '2024-05-01T10:05:00.000Z',
  predicted: 63000.5,
  lower: 62800.25,
  upper: 63200.75,
  model: 'tickcast-btc-usd-5m',
  version: '3',
  actual: 63010,
  error: 9.5,
};
const BTC_NEW: PredictionInsert = {
  ...BTC_OLD,
  id: 'btc-5-b',
  madeAt: '2024-05-01T10:01:00.000Z',
  targetTime: '2024-05-01T10:06:00.000Z',
  predicted: 63050.125,
  lower: 62900,
  upper: 63190,
  version: '4',
  actual: 63040.125,
  error: -10,
};
const BTC_15: PredictionInsert = {
  ...BTC_OLD,
  id: 'btc-15-a',
  horizon: 15,
  madeAt: '2024-05-01T10:02:00.000Z',
  targetTime: '2024-05-01T10:17:00.000Z',
  predicted: 63100,
  model: 'tickcast-btc-usd-15m',
  version: '1',
};
const ETH: PredictionInsert = {
  id: 'eth-5-a',
  pair: 'ETH/USD',
  horizon: 5,
  madeAt: '2024-05-01T09:00:00.000Z',
  targetTime: '2024-05-01T09:05:00.000Z',
  predicted: 3100.75,
  lower: null,
  upper: null,
  model: 'tickcast-eth-usd-5m',
  version: '7',
  actual: null,
  error: null,
};
const SOL_A: PredictionInsert = { ...ETH, id: 'sol-5-a', pair: 'SOL/USD', predicted: 150, model: 'a', version: '1' };
const SOL_B: PredictionInsert = { ...SOL_A, id: 'sol-5-b', predicted: 151, model: 'b' };

// 50 markets for the batching proof: M00..M44 each have an older and a newer prediction,
// M45..M49 have none.
const BATCH_PAIRS = Array.from({ length: 50 }, (_, i) => `M${String(i).padStart(2, '0')}/USD`);
const batchRows = BATCH_PAIRS.slice(0, 45).flatMap((pair, i): PredictionInsert[] => [
  { ...ETH, id: `${pair}-old`, pair, madeAt: '2024-05-01T08:00:00.000Z', predicted: 1000 + i },
  { ...ETH, id: `${pair}-new`, pair, madeAt: '2024-05-01T08:01:00.000Z', predicted: 2000 + i, version: String(i) },
]);

const CAP_PAIR = 'CAP/USD';
const CAP_ROWS = 1005;

const PERFORMANCE = [
  ['tickcast-btc-usd-5m', '3', 'BTC/USD', 5, 120, 10.5, 14.25, 0.0002, 0.55, 0.9, '2024-05-01T11:00:00.000Z'],
  ['tickcast-btc-usd-5m', '4', 'BTC/USD', 5, 30, 8, 9.5, 0.00015, 0.6, 0.86, '2024-05-01T11:05:00.000Z'],
  ['tickcast-eth-usd-5m', '7', 'ETH/USD', 5, 0, null, null, null, null, null, '2024-05-01T11:10:00.000Z'],
  ['tickcast-btc-usd-15m', '1', 'BTC/USD', 15, 12, 20, 25, 0.0004, 0.5, 0.92, '2024-05-01T11:15:00.000Z'],
] as const;

const performance = (row: (typeof PERFORMANCE)[number]) => ({
  modelName: row[0],
  version: row[1],
  pair: row[2],
  horizonMinutes: row[3],
  count: row[4],
  mae: row[5],
  rmse: row[6],
  mape: row[7],
  directionalAccuracy: row[8],
  intervalCoverage: row[9],
  updatedAt: row[10],
});

describe('predictions subgraph', () => {
  let iso: Isolation;
  let server: RunningSubgraph;
  let queries: ReturnType<typeof recordQueries>;

  const gql = <T>(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse<T>> =>
    postGraphql<T>(server.url, query, variables, { status: 200 });

  /** The data of a response that must have no errors. */
  const data = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> =>
    dataOf(await gql<T>(query, variables));

  const markets = (...pairs: string[]) => pairs.map((pair) => ({ __typename: 'Market', pair }));

  before(async () => {
    iso = await isolate('predictions');
    await insertPredictions(iso.pool, [BTC_OLD, BTC_NEW, BTC_15, ETH, SOL_A, SOL_B, ...batchRows]);
    await iso.pool.query(
      `INSERT INTO predictions (id, pair, horizon_minutes, made_at, target_time, predicted_price, model_name, model_version)
       SELECT 'cap-' || g, $1, 5, timestamptz '2024-01-01' + g * interval '1 minute',
              timestamptz '2024-01-01' + (g + 5) * interval '1 minute', g, 'cap', '1'
         FROM generate_series(1, $2::int) g`,
      [CAP_PAIR, CAP_ROWS],
    );
    for (const row of PERFORMANCE) {
      await iso.pool.query(
        `INSERT INTO model_performance (model_name, model_version, pair, horizon_minutes, count, mae, rmse, mape,
           directional_accuracy, interval_coverage, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [...row],
      );
    }
    queries = recordQueries(iso.pool);
    server = await startSubgraph(predictionsSubgraph, {
      pool: iso.pool,
      bus: new MemoryBus(),
      logger: testLogger,
      port: 0,
      host: '127.0.0.1',
    });
  });

  after(async () => {
    await server?.stop();
    await iso?.close();
  });

  describe('Query.prediction', () => {
    it('returns every field of a stored prediction', async () => {
      const result = await data<{ a: unknown; b: unknown }>(
        `{ a: prediction(id: "btc-5-b") { ${ALL_FIELDS} } b: prediction(id: "eth-5-a") { ${ALL_FIELDS} } }`,
      );
      assert.deepEqual(result, { a: expected(BTC_NEW), b: expected(ETH) });
    });

    it('returns null for an unknown id', async () => {
      assert.deepEqual(await data(`{ prediction(id: "nope") { id } }`), { prediction: null });
    });
  });

  describe('Prediction entities', () => {
    it('resolves representations in order, null for an unknown id, in one query', async () => {
      queries.reset();
      const result = await data<{ _entities: unknown[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Prediction { ${ALL_FIELDS} } } }`,
        {
          r: [
            { __typename: 'Prediction', id: 'eth-5-a' },
            { __typename: 'Prediction', id: 'missing' },
            { __typename: 'Prediction', id: 'btc-15-a' },
            { __typename: 'Prediction', id: 'btc-5-a' },
          ],
        },
      );
      assert.deepEqual(result._entities, [expected(ETH), null, expected(BTC_15), expected(BTC_OLD)]);
      assert.equal(queries.statements.length, 1, queries.statements.join('\n---\n'));
    });
  });

  describe('Market entities', () => {
    it('lists predictions newest first, per horizon or all, and the latest per horizon', async () => {
      const result = await data<{ _entities: unknown[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Market {
           pair
           all: predictions { id }
           five: predictions(horizonMinutes: 5) { id }
           fifteen: predictions(horizonMinutes: 15) { ${ALL_FIELDS} }
           one: predictions(first: 1) { id }
           none: predictions(first: 0) { id }
           latestDefault: latestPrediction { ${ALL_FIELDS} }
           latest15: latestPrediction(horizonMinutes: 15) { id }
           latest60: latestPrediction(horizonMinutes: 60) { id }
         } } }`,
        { r: markets('BTC/USD', 'ETH/USD', 'SOL/USD', 'NONE/USD') },
      );
      assert.deepEqual(result._entities, [
        {
          pair: 'BTC/USD',
          all: [{ id: 'btc-15-a' }, { id: 'btc-5-b' }, { id: 'btc-5-a' }],
          five: [{ id: 'btc-5-b' }, { id: 'btc-5-a' }],
          fifteen: [expected(BTC_15)],
          one: [{ id: 'btc-15-a' }],
          none: [],
          latestDefault: expected(BTC_NEW),
          latest15: { id: 'btc-15-a' },
          latest60: null,
        },
        {
          pair: 'ETH/USD',
          all: [{ id: 'eth-5-a' }],
          five: [{ id: 'eth-5-a' }],
          fifteen: [],
          one: [{ id: 'eth-5-a' }],
          none: [],
          latestDefault: expected(ETH),
          latest15: null,
          latest60: null,
        },
        {
          pair: 'SOL/USD',
          all: [{ id: 'sol-5-b' }, { id: 'sol-5-a' }],
          five: [{ id: 'sol-5-b' }, { id: 'sol-5-a' }],
          fifteen: [],
          one: [{ id: 'sol-5-b' }],
          none: [],
          latestDefault: expected(SOL_B),
          latest15: null,
          latest60: null,
        },
        {
          pair: 'NONE/USD',
          all: [],
          five: [],
          fifteen: [],
          one: [],
          none: [],
          latestDefault: null,
          latest15: null,
          latest60: null,
        },
      ]);
    });

    it('caps first at 1000, newest first', async () => {
      const result = await data<{ _entities: [{ predictions: { id: string }[] }] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Market { predictions(first: 100000) { id } } } }`,
        { r: markets(CAP_PAIR) },
      );
      const ids = result._entities[0].predictions.map((p) => p.id);
      assert.equal(ids.length, 1000);
      assert.deepEqual(
        ids,
        Array.from({ length: 1000 }, (_, i) => `cap-${CAP_ROWS - i}`),
      );
    });

    it('rejects a negative first with BAD_USER_INPUT', async () => {
      const result = await gql<{ _entities: unknown[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Market { predictions(first: -1) { id } } } }`,
        { r: markets('BTC/USD') },
      );
      assert.equal(result.errors?.length, 1, JSON.stringify(result.errors));
      assert.equal(result.errors[0]?.extensions?.code, 'BAD_USER_INPUT');
      assert.match(result.errors[0]?.message ?? '', /first/);
      assert.deepEqual(result.data, { _entities: [null] });
    });

    it('resolves latestPrediction for 50 markets with exactly one query', async () => {
      queries.reset();
      const result = await data<{ _entities: unknown[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Market {
           latestPrediction(horizonMinutes: 5) { id predictedPrice modelVersion { modelName version } }
         } } }`,
        { r: markets(...BATCH_PAIRS) },
      );
      assert.equal(queries.statements.length, 1, queries.statements.join('\n---\n'));
      assert.deepEqual(
        result._entities,
        BATCH_PAIRS.map((pair, i) => ({
          latestPrediction:
            i < 45
              ? {
                  id: `${pair}-new`,
                  predictedPrice: 2000 + i,
                  modelVersion: { modelName: ETH.model, version: String(i) },
                }
              : null,
        })),
      );
    });

    it('lists predictions of many markets with one query', async () => {
      queries.reset();
      const result = await data<{ _entities: { predictions: { id: string }[] }[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Market { predictions(horizonMinutes: 5) { id } } } }`,
        { r: markets(...BATCH_PAIRS) },
      );
      assert.equal(queries.statements.length, 1, queries.statements.join('\n---\n'));
      assert.deepEqual(
        result._entities.map((e) => e.predictions.map((p) => p.id)),
        BATCH_PAIRS.map((pair, i) => (i < 45 ? [`${pair}-new`, `${pair}-old`] : [])),
      );
    });
  });

  describe('Query.modelPerformance', () => {
    const ask = (args: string) =>
      data<{ modelPerformance: unknown[] }>(
        `{ modelPerformance${args} { modelName version pair horizonMinutes count mae rmse mape directionalAccuracy
           intervalCoverage updatedAt } }`,
      ).then((d) => d.modelPerformance);

    it('returns every row, ordered by model, version, pair and horizon, without filters', async () => {
      assert.deepEqual(
        await ask(''),
        [PERFORMANCE[3], PERFORMANCE[0], PERFORMANCE[1], PERFORMANCE[2]].map(performance),
      );
    });

    it('filters by model name, pair and horizon, each alone and together', async () => {
      assert.deepEqual(
        await ask('(modelName: "tickcast-btc-usd-5m")'),
        [PERFORMANCE[0], PERFORMANCE[1]].map(performance),
      );
      assert.deepEqual(await ask('(pair: "ETH/USD")'), [performance(PERFORMANCE[2])]);
      assert.deepEqual(await ask('(horizonMinutes: 15)'), [performance(PERFORMANCE[3])]);
      assert.deepEqual(
        await ask('(pair: "BTC/USD", horizonMinutes: 5)'),
        [PERFORMANCE[0], PERFORMANCE[1]].map(performance),
      );
      assert.deepEqual(await ask('(modelName: "tickcast-btc-usd-5m", horizonMinutes: 15)'), []);
      assert.deepEqual(await ask('(pair: "NONE/USD")'), []);
    });
  });
});
