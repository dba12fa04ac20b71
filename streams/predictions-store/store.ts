/**
 * Where served predictions, their outcomes and the rolling error per model live. One
 * interface, two implementations: PostgreSQL (postgres.ts, the tables of
 * schema/sql/postgres/002_trades_predictions_sentiment.sql) and Elasticsearch
 * (elasticsearch.ts, monthly indices behind an index template).
 *
 * Every write is idempotent, so a batch re-delivered by the bus can be written again:
 * predictions by id (the first write wins, so a re-delivery never erases an outcome
 * already recorded), outcomes and performance rows by key (the last write wins).
 */
import { TickcastError } from '../../lib/errors.ts';
import type { Prediction } from '../../schema/events.ts';

export interface PredictionOutcome {
  /** A prediction id as built by `predictionId` (schema/events.ts). */
  readonly id: string;
  readonly actualPrice: number;
  readonly error: number;
}

/** The rolling error of one model version on one market and horizon. */
export interface ModelPerformanceRow {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly pair: string;
  readonly horizonMinutes: number;
  /** Outcomes the metrics are computed over. */
  readonly count: number;
  readonly mae: number | null;
  readonly rmse: number | null;
  readonly mape: number | null;
  readonly directionalAccuracy: number | null;
  readonly intervalCoverage: number | null;
  /** The monitor's adaptive interval half-width (log return); absent or null when not tracked. */
  readonly adaptiveHalfWidth?: number | null | undefined;
  /** Epoch milliseconds, UTC. */
  readonly updatedAt: number;
}

export interface PredictionStore {
  /** Creates what the store needs (templates, columns); safe to call on every start. */
  ensureSchema(): Promise<void>;
  /** Idempotent by prediction id: an id already stored is left as it is. */
  writePredictions(predictions: readonly Prediction[]): Promise<void>;
  /**
   * Sets actualPrice and error. Ids that are not stored (yet) fail with `PredictionsNotStored`
   * naming them, after the others were recorded.
   */
  recordOutcomes(outcomes: readonly PredictionOutcome[]): Promise<void>;
  /** Upsert by (modelName, modelVersion, pair, horizonMinutes). */
  writePerformance(rows: readonly ModelPerformanceRow[]): Promise<void>;
  /** Predictions whose targetTime <= now and that have no actual yet, oldest target first (ties by id). */
  pendingDue(now: number, limit: number): Promise<Prediction[]>;
  /** Releases what the store opened itself (never a pool or client it was given). */
  close(): Promise<void>;
}

/**
 * madeAt of a prediction id `pair|{h}m|{ISO}` (see `predictionId`), or null when the id
 * is not of that form. The ISO part must round-trip exactly, so an id is never routed
 * by a date it does not spell.
 */
export function madeAtOfPredictionId(id: string): number | null {
  const parts = id.split('|');
  if (parts.length !== 3) return null;
  const iso = parts[2] ?? '';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms) || ms < 0 || new Date(ms).toISOString() !== iso) return null;
  return ms;
}

/** The key of a performance row as one string, unambiguous whatever the names contain. */
export function performanceKey(row: ModelPerformanceRow): string {
  return JSON.stringify([row.modelName, row.modelVersion, row.pair, row.horizonMinutes]);
}

/** The last row per performance key, in the order of those last rows (one batch may carry a key twice). */
export function lastPerKey(rows: readonly ModelPerformanceRow[]): ModelPerformanceRow[] {
  const byKey = new Map<string, ModelPerformanceRow>();
  for (const row of rows) {
    const key = performanceKey(row);
    byKey.delete(key);
    byKey.set(key, row);
  }
  return [...byKey.values()];
}

/** The last outcome per id. */
export function lastOutcomePerId(outcomes: readonly PredictionOutcome[]): PredictionOutcome[] {
  const byId = new Map<string, PredictionOutcome>();
  for (const outcome of outcomes) {
    byId.delete(outcome.id);
    byId.set(outcome.id, outcome);
  }
  return [...byId.values()];
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

/**
 * Outcomes whose predictions are not in the store: they travel on another topic and may
 * overtake their predictions, so the writer waits for them (retriable).
 */
export class PredictionsNotStored extends TickcastError {
  constructor(readonly ids: readonly string[]) {
    super('NOT_YET_STORED', `outcomes for predictions that are not stored: ${ids.join(', ')}`);
    this.name = 'PredictionsNotStored';
  }
}

/** One record a store refused for itself, with the store's own reason (e.g. `400 document_parsing_exception: …`). */
export interface RefusedRecord {
  /** Prediction id, outcome id, or performance key (`performanceKey`). */
  readonly id: string;
  readonly reason: string;
}

/**
 * Records the store refused for themselves (a field its mapping cannot take, a 400 for one
 * document of a bulk): sending them again would fail the same way, so the writer dead-letters
 * them and writes the rest. Every other record of the call was written (or may be written
 * again: writes are idempotent).
 */
export class RecordsRefused extends TickcastError {
  constructor(
    readonly refused: readonly RefusedRecord[],
    message: string,
  ) {
    super('UPSTREAM_REJECTED', message);
    this.name = 'RecordsRefused';
  }
}
