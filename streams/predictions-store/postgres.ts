/**
 * The predictions store on PostgreSQL: tables `predictions` and `model_performance`
 * (schema/sql/postgres/002_trades_predictions_sentiment.sql), written in one statement
 * per chunk through `unnest` arrays.
 *
 * Schema gap: a Prediction carries basePrice and predictedLogReturn, which 002 has no
 * columns for, so pendingDue could not give back a valid Prediction (and the monitor could
 * not compute directional accuracy, which needs basePrice). ensureSchema adds the two
 * columns, nullable, plus a partial index for pendingDue, all idempotent
 * (`POSTGRES_SCHEMA_ADDITIONS`); they belong in a migration (003) of their own, where the
 * same statements can go as they are. Rows written by others without them (tests,
 * benchmarks) are never pending: pendingDue needs both.
 */
import type pg from 'pg';
import { predictionSchema, type Prediction } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { invalidStored, requestSeconds } from './metrics.ts';
import {
  chunks,
  lastOutcomePerId,
  lastPerKey,
  PredictionsNotStored,
  type ModelPerformanceRow,
  type PredictionOutcome,
  type PredictionStore,
} from './store.ts';
import { checkOutcomes, checkPerformanceRows, checkPredictions } from './validate.ts';

const BACKEND = 'postgres';

/** The one method of pg.Pool the store uses (a pg.Pool or pg.Client satisfies it). */
export interface SqlClient {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export const POSTGRES_SCHEMA_ADDITIONS = `ALTER TABLE predictions
  ADD COLUMN IF NOT EXISTS base_price DOUBLE PRECISION,
  ADD COLUMN IF NOT EXISTS predicted_log_return DOUBLE PRECISION;
CREATE INDEX IF NOT EXISTS predictions_pending_due ON predictions (target_time, id) WHERE actual_price IS NULL;`;

export interface Statement {
  readonly text: string;
  readonly values: unknown[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Inserts predictions; an id already stored is left untouched (its outcome included). */
export function insertPredictionsStatement(predictions: readonly Prediction[]): Statement {
  return {
    text: `INSERT INTO predictions (id, pair, horizon_minutes, made_at, target_time, base_price, predicted_log_return,
         predicted_price, lower_bound, upper_bound, model_name, model_version)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::float8[],
         $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::text[], $12::text[])
       ON CONFLICT (id) DO NOTHING`,
    values: [
      predictions.map((p) => p.id),
      predictions.map((p) => p.pair),
      predictions.map((p) => p.horizonMinutes),
      predictions.map((p) => iso(p.madeAt)),
      predictions.map((p) => iso(p.targetTime)),
      predictions.map((p) => p.basePrice),
      predictions.map((p) => p.predictedLogReturn),
      predictions.map((p) => p.predictedPrice),
      predictions.map((p) => p.lowerBound),
      predictions.map((p) => p.upperBound),
      predictions.map((p) => p.modelName),
      predictions.map((p) => p.modelVersion),
    ],
  };
}

/** Sets actual_price and error; RETURNING tells which ids exist. Ids must be distinct. */
export function recordOutcomesStatement(outcomes: readonly PredictionOutcome[]): Statement {
  return {
    text: `UPDATE predictions p SET actual_price = o.actual_price, error = o.error
       FROM unnest($1::text[], $2::float8[], $3::float8[]) AS o(id, actual_price, error)
       WHERE p.id = o.id
       RETURNING p.id`,
    values: [outcomes.map((o) => o.id), outcomes.map((o) => o.actualPrice), outcomes.map((o) => o.error)],
  };
}

/** Upserts performance rows by their key; keys must be distinct within one statement. */
export function upsertPerformanceStatement(rows: readonly ModelPerformanceRow[]): Statement {
  return {
    text: `INSERT INTO model_performance (model_name, model_version, pair, horizon_minutes, count, mae, rmse, mape,
         directional_accuracy, interval_coverage, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::float8[], $7::float8[],
         $8::float8[], $9::float8[], $10::float8[], $11::timestamptz[])
       ON CONFLICT (model_name, model_version, pair, horizon_minutes) DO UPDATE SET
         count = EXCLUDED.count, mae = EXCLUDED.mae, rmse = EXCLUDED.rmse, mape = EXCLUDED.mape,
         directional_accuracy = EXCLUDED.directional_accuracy, interval_coverage = EXCLUDED.interval_coverage,
         updated_at = EXCLUDED.updated_at`,
    values: [
      rows.map((r) => r.modelName),
      rows.map((r) => r.modelVersion),
      rows.map((r) => r.pair),
      rows.map((r) => r.horizonMinutes),
      rows.map((r) => r.count),
      rows.map((r) => r.mae),
      rows.map((r) => r.rmse),
      rows.map((r) => r.mape),
      rows.map((r) => r.directionalAccuracy),
      rows.map((r) => r.intervalCoverage),
      rows.map((r) => iso(r.updatedAt)),
    ],
  };
}

export function pendingDueStatement(now: number, limit: number): Statement {
  return {
    text: `SELECT id, pair, horizon_minutes, made_at, target_time, base_price, predicted_log_return, predicted_price,
         lower_bound, upper_bound, model_name, model_version
       FROM predictions
       WHERE target_time <= $1 AND actual_price IS NULL AND base_price IS NOT NULL AND predicted_log_return IS NOT NULL
       ORDER BY target_time, id
       LIMIT $2`,
    values: [iso(now), limit],
  };
}

export interface PendingRow {
  id: string;
  pair: string;
  horizon_minutes: number;
  made_at: Date;
  target_time: Date;
  base_price: number;
  predicted_log_return: number;
  predicted_price: number;
  lower_bound: number | null;
  upper_bound: number | null;
  model_name: string;
  model_version: string;
}

export function predictionFromRow(row: PendingRow): unknown {
  return {
    v: 1,
    id: row.id,
    pair: row.pair,
    horizonMinutes: row.horizon_minutes,
    madeAt: row.made_at.getTime(),
    targetTime: row.target_time.getTime(),
    basePrice: row.base_price,
    predictedLogReturn: row.predicted_log_return,
    predictedPrice: row.predicted_price,
    lowerBound: row.lower_bound,
    upperBound: row.upper_bound,
    modelName: row.model_name,
    modelVersion: row.model_version,
  };
}

/**
 * SQLSTATE classes worth a retry: connection (08), transaction rollback such as
 * serialization failures and deadlocks (40), insufficient resources (53), operator
 * intervention such as a shutdown (57). Errors without a SQLSTATE are the socket's: retriable too.
 */
const RETRIABLE_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57']);

export function storeError(op: string, error: unknown): TickcastError {
  if (error instanceof TickcastError) return error;
  // A server error (pg's DatabaseError) has a severity and a SQLSTATE; a socket error has an errno code (EPIPE).
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  const message = `postgres ${op} failed: ${(error as Error | undefined)?.message ?? String(error)}`;
  if (typeof severity !== 'string' || typeof code !== 'string' || RETRIABLE_SQLSTATE_CLASSES.has(code.slice(0, 2)))
    return new TickcastError('STORE_UNAVAILABLE', message, { cause: error });
  // undefined_table, undefined_column: migrations 002 have not run.
  if (code === '42P01' || code === '42703')
    return new TickcastError('CONFIG_INVALID', `${message} (are the migrations applied?)`, { cause: error });
  return new TickcastError('UPSTREAM_REJECTED', `${message} (SQLSTATE ${code})`, { cause: error });
}

export interface PostgresStoreOptions {
  readonly pool: SqlClient;
  readonly logger: Logger;
  /** Rows per statement. Default 1000. */
  readonly chunkSize?: number;
}

export class PostgresPredictionStore implements PredictionStore {
  private readonly pool: SqlClient;
  private readonly log: Logger;
  private readonly chunkSize: number;

  constructor(options: PostgresStoreOptions) {
    this.pool = options.pool;
    this.log = options.logger.child({ component: 'predictions-store', backend: BACKEND });
    this.chunkSize = options.chunkSize ?? 1000;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1)
      throw new TickcastError('CONFIG_INVALID', `chunkSize must be a positive integer, got ${this.chunkSize}`);
  }

  /** Runs POSTGRES_SCHEMA_ADDITIONS only when something is missing: ALTER TABLE locks the table, even as a no-op. */
  async ensureSchema(): Promise<void> {
    const { rows } = await this.run<{ present: number }>('ensure_schema', {
      text: `SELECT (SELECT count(*) FROM information_schema.columns
                      WHERE table_schema = current_schema() AND table_name = 'predictions'
                        AND column_name IN ('base_price', 'predicted_log_return'))
                  + (SELECT count(*) FROM pg_indexes
                      WHERE schemaname = current_schema() AND indexname = 'predictions_pending_due') AS present`,
      values: [],
    });
    if (Number(rows[0]?.present) === 3) return;
    this.log.info('adding base_price, predicted_log_return and predictions_pending_due to predictions');
    await this.run('ensure_schema', { text: POSTGRES_SCHEMA_ADDITIONS, values: [] });
  }

  async writePredictions(predictions: readonly Prediction[]): Promise<void> {
    checkPredictions(predictions);
    for (const chunk of chunks(predictions, this.chunkSize))
      await this.run('insert_predictions', insertPredictionsStatement(chunk));
  }

  async recordOutcomes(outcomes: readonly PredictionOutcome[]): Promise<void> {
    checkOutcomes(outcomes);
    const missing: string[] = [];
    for (const chunk of chunks(lastOutcomePerId(outcomes), this.chunkSize)) {
      const { rows } = await this.run<{ id: string }>('record_outcomes', recordOutcomesStatement(chunk));
      const found = new Set(rows.map((r) => r.id));
      missing.push(...chunk.filter((o) => !found.has(o.id)).map((o) => o.id));
    }
    if (missing.length > 0) throw new PredictionsNotStored(missing);
  }

  async writePerformance(rows: readonly ModelPerformanceRow[]): Promise<void> {
    checkPerformanceRows(rows);
    for (const chunk of chunks(lastPerKey(rows), this.chunkSize))
      await this.run('upsert_performance', upsertPerformanceStatement(chunk));
  }

  async pendingDue(now: number, limit: number): Promise<Prediction[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw new TickcastError('CONFIG_INVALID', `pendingDue limit must be an integer in 1..10000, got ${limit}`);
    const { rows } = await this.run<PendingRow>('pending_due', pendingDueStatement(now, limit));
    const result: Prediction[] = [];
    for (const row of rows) {
      const parsed = predictionSchema.safeParse(predictionFromRow(row));
      if (parsed.success) result.push(parsed.data);
      else {
        invalidStored.inc({ backend: BACKEND });
        this.log.warn({ id: row.id, issues: parsed.error.issues }, 'stored prediction skipped');
      }
    }
    return result;
  }

  /** The pool is the caller's: nothing to release. */
  async close(): Promise<void> {}

  private async run<R extends pg.QueryResultRow>(op: string, statement: Statement): Promise<pg.QueryResult<R>> {
    const stop = requestSeconds.startTimer({ backend: BACKEND, op });
    try {
      const result = await this.pool.query<R>(statement.text, statement.values);
      stop({ result: 'ok' });
      return result;
    } catch (error) {
      const mapped = storeError(op, error);
      stop({ result: mapped.retriable ? 'retriable' : 'rejected' });
      throw mapped;
    }
  }
}
