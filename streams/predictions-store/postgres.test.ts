/**
 * The PostgreSQL store without a database: the statements it builds (columns, casts and
 * values line up) and what it does with results, through a pool that records queries.
 * Against a real server the store runs in the predictions writer of the e2e tests
 * (test/e2e/predictions.e2e.ts, crash-recovery-predictions.e2e.ts, elasticsearch-outage.e2e.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { predictionId, type Prediction } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import {
  insertPredictionsStatement,
  pendingDueStatement,
  PostgresPredictionStore,
  recordOutcomesStatement,
  storeError,
  upsertPerformanceStatement,
  type PendingRow,
  type SqlClient,
  type Statement,
} from './postgres.ts';
import type { ModelPerformanceRow } from './store.ts';

const logger = createLogger('silent');
const MADE_AT = Date.UTC(2023, 3, 30, 23, 55);

const P1: Prediction = {
  v: 1,
  id: predictionId('BTC/USD', 5, MADE_AT),
  pair: 'BTC/USD',
  horizonMinutes: 5,
  madeAt: MADE_AT,
  targetTime: MADE_AT + 300_000,
  basePrice: 29_000,
  predictedLogReturn: 0.001,
  predictedPrice: 29_029.01,
  lowerBound: null,
  upperBound: 29_150,
  modelName: 'linear',
  modelVersion: '3',
};
const P2: Prediction = { ...P1, id: predictionId('ETH/USD', 15, MADE_AT), pair: 'ETH/USD', horizonMinutes: 15 };

const ROW: ModelPerformanceRow = {
  modelName: 'linear',
  modelVersion: '3',
  pair: 'BTC/USD',
  horizonMinutes: 5,
  count: 100,
  mae: 24.1,
  rmse: null,
  mape: 0.0008,
  directionalAccuracy: 0.52,
  intervalCoverage: 0.9,
  updatedAt: MADE_AT,
};

/** Column name -> [cast of its unnest argument, its values], from the INSERT's column list and unnest(...). */
function columns(statement: Statement): Map<string, [string, unknown]> {
  const names =
    /INSERT INTO \w+ \(([^)]*)\)/
      .exec(statement.text)?.[1]
      ?.split(',')
      .map((c) => c.trim()) ?? [];
  const args = [...statement.text.matchAll(/\$(\d+)::(\w+)\[\]/g)].map((m) => [Number(m[1]), m[2]] as const);
  assert.equal(args.length, names.length, 'one unnest argument per column');
  assert.equal(statement.values.length, names.length, 'one value array per column');
  return new Map(
    names.map((name, i) => {
      const [position, cast] = args[i] as readonly [number, string];
      assert.equal(position, i + 1, `argument ${i + 1} in order`);
      return [name, [cast, statement.values[i]]];
    }),
  );
}

describe('PostgreSQL statements', () => {
  it('insert predictions: every column with its cast and values, existing ids left alone', () => {
    const statement = insertPredictionsStatement([P1, P2]);
    assert.match(statement.text, /ON CONFLICT \(id\) DO NOTHING\s*$/);
    assert.deepEqual(
      [...columns(statement)],
      [
        ['id', ['text', [P1.id, P2.id]]],
        ['pair', ['text', ['BTC/USD', 'ETH/USD']]],
        ['horizon_minutes', ['int', [5, 15]]],
        ['made_at', ['timestamptz', ['2023-04-30T23:55:00.000Z', '2023-04-30T23:55:00.000Z']]],
        ['target_time', ['timestamptz', ['2023-05-01T00:00:00.000Z', '2023-05-01T00:00:00.000Z']]],
        ['base_price', ['float8', [29_000, 29_000]]],
        ['predicted_log_return', ['float8', [0.001, 0.001]]],
        ['predicted_price', ['float8', [29_029.01, 29_029.01]]],
        ['lower_bound', ['float8', [null, null]]],
        ['upper_bound', ['float8', [29_150, 29_150]]],
        ['model_name', ['text', ['linear', 'linear']]],
        ['model_version', ['text', ['3', '3']]],
      ],
    );
  });

  it('upsert performance: keyed by (model_name, model_version, pair, horizon_minutes), every metric replaced', () => {
    const statement = upsertPerformanceStatement([ROW]);
    assert.deepEqual(
      [...columns(statement)],
      [
        ['model_name', ['text', ['linear']]],
        ['model_version', ['text', ['3']]],
        ['pair', ['text', ['BTC/USD']]],
        ['horizon_minutes', ['int', [5]]],
        ['count', ['int', [100]]],
        ['mae', ['float8', [24.1]]],
        ['rmse', ['float8', [null]]],
        ['mape', ['float8', [0.0008]]],
        ['directional_accuracy', ['float8', [0.52]]],
        ['interval_coverage', ['float8', [0.9]]],
        ['updated_at', ['timestamptz', ['2023-04-30T23:55:00.000Z']]],
      ],
    );
    assert.match(statement.text, /ON CONFLICT \(model_name, model_version, pair, horizon_minutes\) DO UPDATE SET/);
    const updated = [...statement.text.matchAll(/(\w+) = EXCLUDED\.(\w+)/g)].map((m) => {
      assert.equal(m[1], m[2]);
      return m[1];
    });
    assert.deepEqual(updated, [
      'count',
      'mae',
      'rmse',
      'mape',
      'directional_accuracy',
      'interval_coverage',
      'updated_at',
    ]);
  });

  it('outcomes and pendingDue: parameters in place', () => {
    const outcomes = recordOutcomesStatement([{ id: P1.id, actualPrice: 29_010, error: 19.01 }]);
    assert.match(
      outcomes.text,
      /unnest\(\$1::text\[\], \$2::float8\[\], \$3::float8\[\]\) AS o\(id, actual_price, error\)/,
    );
    assert.match(outcomes.text, /RETURNING p\.id/);
    assert.deepEqual(outcomes.values, [[P1.id], [29_010], [19.01]]);

    const due = pendingDueStatement(MADE_AT, 50);
    assert.match(due.text, /WHERE target_time <= \$1 AND actual_price IS NULL/);
    assert.match(due.text, /ORDER BY target_time, id\s+LIMIT \$2/);
    assert.deepEqual(due.values, ['2023-04-30T23:55:00.000Z', 50]);
  });
});

/** A pool that records statements and answers with the rows `answer` gives. */
function fakePool(answer: (text: string, values: unknown[]) => pg.QueryResultRow[] | Error = () => []) {
  const queries: { text: string; values: unknown[] }[] = [];
  const pool: SqlClient = {
    query: async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
      queries.push({ text, values });
      const rows = answer(text, values);
      if (rows instanceof Error) throw rows;
      return { rows: rows as R[], rowCount: rows.length, command: '', oid: 0, fields: [] };
    },
  };
  return { pool, queries };
}

async function rejection(promise: Promise<unknown>): Promise<TickcastError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TickcastError, `expected a TickcastError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('PostgresPredictionStore (recording pool)', () => {
  it('writes predictions in chunks and refuses invalid ones before any statement', async () => {
    const { pool, queries } = fakePool();
    const store = new PostgresPredictionStore({ pool, logger, chunkSize: 1 });
    await store.writePredictions([P1, P2]);
    assert.deepEqual(
      queries.map((q) => q.values[0]),
      [[P1.id], [P2.id]],
    );
    const error = await rejection(store.writePredictions([{ ...P1, basePrice: 0 }]));
    assert.equal(error.code, 'INVALID_EVENT');
    assert.equal(queries.length, 2);
  });

  it('recordOutcomes sends the last outcome per id and names ids that are not stored', async () => {
    const { pool, queries } = fakePool(() => [{ id: P1.id }]);
    const store = new PostgresPredictionStore({ pool, logger });
    const error = await rejection(
      store.recordOutcomes([
        { id: P1.id, actualPrice: 1, error: 0 },
        { id: P2.id, actualPrice: 2, error: 0 },
        { id: P1.id, actualPrice: 3, error: 0 },
      ]),
    );
    assert.deepEqual(queries[0]?.values, [
      [P2.id, P1.id],
      [2, 3],
      [0, 0],
    ]);
    assert.equal(error.code, 'NOT_YET_STORED');
    assert.equal(error.message, `outcomes for predictions that are not stored: ${P2.id}`);
  });

  it('writePerformance keeps the last row per key (one statement cannot upsert a key twice)', async () => {
    const { pool, queries } = fakePool();
    const store = new PostgresPredictionStore({ pool, logger });
    await store.writePerformance([ROW, { ...ROW, horizonMinutes: 15 }, { ...ROW, count: 101 }]);
    assert.equal(queries.length, 1);
    assert.deepEqual(queries[0]?.values[3], [15, 5]);
    assert.deepEqual(queries[0]?.values[4], [100, 101]);
  });

  it('pendingDue turns rows into Predictions and skips rows that fail the schema', async () => {
    const row = (p: Prediction): PendingRow => ({
      id: p.id,
      pair: p.pair,
      horizon_minutes: p.horizonMinutes,
      made_at: new Date(p.madeAt),
      target_time: new Date(p.targetTime),
      base_price: p.basePrice,
      predicted_log_return: p.predictedLogReturn,
      predicted_price: p.predictedPrice,
      lower_bound: p.lowerBound,
      upper_bound: p.upperBound,
      model_name: p.modelName,
      model_version: p.modelVersion,
    });
    const { pool } = fakePool(() => [row(P1), { ...row(P2), predicted_price: -5 }]);
    const store = new PostgresPredictionStore({ pool, logger });
    assert.deepEqual(await store.pendingDue(MADE_AT + 3_600_000, 10), [P1]);
  });

  it('ensureSchema adds the columns only when they are missing', async () => {
    for (const [present, ddl] of [
      [3, false],
      [2, true],
      [0, true],
    ] as const) {
      const { pool, queries } = fakePool((text) => (text.startsWith('SELECT') ? [{ present: String(present) }] : []));
      await new PostgresPredictionStore({ pool, logger }).ensureSchema();
      assert.equal(
        queries.some((q) => q.text.startsWith('ALTER TABLE predictions')),
        ddl,
        `${present} of 3 present`,
      );
    }
  });

  it('maps driver errors: connection and transient SQLSTATEs retriable, the rest not', () => {
    // Server errors carry a severity and a SQLSTATE (pg's DatabaseError); socket errors an errno code.
    const withCode = (code?: string): Error =>
      Object.assign(new Error('boom'), code === undefined ? {} : { code, severity: 'ERROR' });
    const socket = (code: string): Error => Object.assign(new Error('socket'), { code });
    const cases: [Error, string, boolean][] = [
      [withCode(), 'STORE_UNAVAILABLE', true],
      [socket('ECONNREFUSED'), 'STORE_UNAVAILABLE', true],
      [socket('EPIPE'), 'STORE_UNAVAILABLE', true],
      [withCode('08006'), 'STORE_UNAVAILABLE', true],
      [withCode('40001'), 'STORE_UNAVAILABLE', true],
      [withCode('57P01'), 'STORE_UNAVAILABLE', true],
      [withCode('23505'), 'UPSTREAM_REJECTED', false],
      [withCode('22P02'), 'UPSTREAM_REJECTED', false],
      [withCode('42P01'), 'CONFIG_INVALID', false],
      [withCode('42703'), 'CONFIG_INVALID', false],
    ];
    for (const [error, code, retriable] of cases) {
      const mapped = storeError('op', error);
      assert.deepEqual([mapped.code, mapped.retriable], [code, retriable], String((error as { code?: string }).code));
    }
  });
});
