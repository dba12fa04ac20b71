/**
 * The predictions store on Elasticsearch.
 *
 * Layout: one index per month of madeAt (`tickcast-predictions-2023.04`), created on first
 * write from the `tickcast-predictions` index template, and one `tickcast-model-performance`
 * index from its own template. Time-based indices rather than a data stream: a data stream
 * only accepts `create` and its documents cannot be updated through the stream name, while
 * outcomes are updates of the stored prediction. The month of a prediction is part of its
 * id (`pair|{h}m|{ISO madeAt}`, see `predictionId`), so an outcome finds its index without
 * a lookup.
 *
 * Writes are bulk requests in chunks. Predictions are `create`d with `_id` = prediction id,
 * so a re-delivered prediction comes back 409 and counts as written: the stored document,
 * which may already carry an outcome, is never replaced. Item failures are retried only
 * when the item's status says it may pass later (429, 502, 503, 504), with capped
 * exponential backoff; any other item failure (a mapping refusal, a 400 for one document)
 * is `RecordsRefused` naming the ids and reasons, which the writer dead-letters. Whole requests are retried the same way here (the transport's own retries are
 * turned off per request, so attempts and delays are this module's alone). The client's
 * bulk helper is not used: it retries 429 items only, at a fixed interval.
 */
import { Client, type estypes } from '@elastic/elasticsearch';
import { predictionSchema, type Prediction } from '../../schema/events.ts';
import { TickcastError, type ErrorCode } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { backoffDelay, sleep as wait, type BackoffPolicy } from '../../lib/backoff.ts';
import { bulkItems, invalidStored, requestSeconds, retries } from './metrics.ts';
import {
  chunks,
  lastOutcomePerId,
  lastPerKey,
  PredictionsNotStored,
  RecordsRefused,
  madeAtOfPredictionId,
  performanceKey,
  type ModelPerformanceRow,
  type PredictionOutcome,
  type PredictionStore,
} from './store.ts';
import { checkOutcomes, checkPerformanceRows, checkPredictions } from './validate.ts';

const BACKEND = 'elasticsearch';

/** The client's options (its ESM typings do not export the ClientOptions name). */
export type ClientOptions = ConstructorParameters<typeof Client>[0];

/** What index and template names start with unless the store is given another prefix. */
export const DEFAULT_INDEX_PREFIX = 'tickcast';

/** Item and request statuses worth sending again: the cluster is busy or a node is away. */
const RETRIABLE_STATUSES = new Set([429, 502, 503, 504]);

/** How many ids an error message names before it says "and N more" (the log has them all). */
const IDS_IN_MESSAGE = 20;

export const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 10_000, multiplier: 2, jitter: 0.5 };

export interface ElasticsearchStoreOptions {
  readonly client: Client;
  readonly logger: Logger;
  /** Index and template names start with it: `${prefix}-predictions-YYYY.MM`. Default DEFAULT_INDEX_PREFIX. */
  readonly prefix?: string;
  /** Documents per bulk request. Default 500. */
  readonly chunkSize?: number;
  /** Attempts per request and per bulk item, the first included. Default 6. */
  readonly maxAttempts?: number;
  readonly backoff?: BackoffPolicy;
  /** Waits between attempts; tests pass one that records and returns at once. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** close() closes the client: true when the store created it (see openElasticsearchStore). */
  readonly ownsClient?: boolean;
}

/** The index of the month (UTC) of madeAt. */
export function predictionIndexName(prefix: string, madeAt: number): string {
  const date = new Date(madeAt);
  return `${prefix}-predictions-${date.getUTCFullYear()}.${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
}

const DATE = { type: 'date', format: 'strict_date_optional_time||epoch_millis' } as const;
const DOUBLE = { type: 'double' } as const;
const KEYWORD = { type: 'keyword' } as const;
const INTEGER = { type: 'integer' } as const;

/**
 * Every field of a Prediction, plus the outcome. `dynamic: strict` rejects a document with
 * any other field, so a typo cannot grow the mapping. Dates are stored as the epoch
 * milliseconds of the event (the source keeps them as numbers).
 */
export const PREDICTION_PROPERTIES = {
  v: { type: 'short' },
  id: KEYWORD,
  pair: KEYWORD,
  horizonMinutes: INTEGER,
  madeAt: DATE,
  targetTime: DATE,
  basePrice: DOUBLE,
  predictedLogReturn: DOUBLE,
  predictedPrice: DOUBLE,
  lowerBound: DOUBLE,
  upperBound: DOUBLE,
  modelName: KEYWORD,
  modelVersion: KEYWORD,
  fallback: KEYWORD,
  actualPrice: DOUBLE,
  error: DOUBLE,
} as const;

export const PERFORMANCE_PROPERTIES = {
  modelName: KEYWORD,
  modelVersion: KEYWORD,
  pair: KEYWORD,
  horizonMinutes: INTEGER,
  count: INTEGER,
  mae: DOUBLE,
  rmse: DOUBLE,
  mape: DOUBLE,
  directionalAccuracy: DOUBLE,
  intervalCoverage: DOUBLE,
  adaptiveHalfWidth: DOUBLE,
  updatedAt: DATE,
} as const;

/**
 * Fields added after indices were first created from the templates: put on existing indices
 * too (a strict mapping takes new fields through put-mapping), so their documents are not refused.
 */
const ADDED_PREDICTION_FIELDS = { fallback: KEYWORD } as const;
const ADDED_PERFORMANCE_FIELDS = { adaptiveHalfWidth: DOUBLE } as const;

/**
 * A tickcast-managed index template with a strict mapping: unknown fields are refused, not
 * guessed. One shard (a month of predictions is small); one replica when a second node is
 * there to hold it and none on a single node, so a one-node cluster is green rather than
 * yellow forever with an unassignable replica.
 */
function strictTemplate(
  name: string,
  pattern: string,
  properties: Record<string, estypes.MappingProperty>,
): estypes.IndicesPutIndexTemplateRequest {
  return {
    name,
    index_patterns: [pattern],
    priority: 200,
    version: 3,
    _meta: { managed_by: 'tickcast' },
    template: {
      settings: { number_of_shards: 1, auto_expand_replicas: '0-1' },
      mappings: { dynamic: 'strict', properties },
    },
  };
}

export function predictionsTemplate(prefix: string): estypes.IndicesPutIndexTemplateRequest {
  return strictTemplate(`${prefix}-predictions`, `${prefix}-predictions-*`, PREDICTION_PROPERTIES);
}

export function performanceTemplate(prefix: string): estypes.IndicesPutIndexTemplateRequest {
  return strictTemplate(`${prefix}-model-performance`, `${prefix}-model-performance`, PERFORMANCE_PROPERTIES);
}

/** The search behind pendingDue: due, no actual yet, oldest target first. */
export function pendingDueQuery(prefix: string, now: number, limit: number): estypes.SearchRequest {
  return {
    index: `${prefix}-predictions-*`,
    size: limit,
    track_total_hits: false,
    query: {
      bool: {
        filter: [{ range: { targetTime: { lte: now, format: 'epoch_millis' } } }],
        must_not: [{ exists: { field: 'actualPrice' } }],
      },
    },
    sort: [{ targetTime: { order: 'asc' } }, { id: { order: 'asc' } }],
  };
}

type BulkOp = 'create' | 'update' | 'index';

interface BulkItem {
  readonly id: string;
  readonly action: estypes.BulkOperationContainer;
  readonly source: unknown;
}

interface ItemFailure {
  readonly id: string;
  readonly status: number;
  readonly type: string;
  readonly reason: string;
}

interface Failure {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly status: number | null;
  readonly detail: string;
}

/** What an error of the client means here; null for errors that are not the client's (bugs: rethrown as they are). */
export function classifyClientError(error: unknown): Failure | null {
  if (!(error instanceof Error)) return null;
  switch (error.name) {
    case 'ResponseError': {
      const meta = (error as { meta?: { statusCode?: number; body?: unknown } }).meta;
      const status = meta?.statusCode ?? null;
      const detail = `status ${status ?? '?'}: ${describeErrorBody(meta?.body) ?? error.message}`;
      if (status === 429) return { code: 'RATE_LIMITED', retriable: true, status, detail };
      if (status !== null && RETRIABLE_STATUSES.has(status))
        return { code: 'UPSTREAM_UNAVAILABLE', retriable: true, status, detail };
      return { code: 'UPSTREAM_REJECTED', retriable: false, status, detail };
    }
    case 'ConnectionError':
    case 'TimeoutError':
    case 'NoLivingConnectionsError':
      return { code: 'UPSTREAM_UNAVAILABLE', retriable: true, status: null, detail: `${error.name}: ${error.message}` };
    case 'ProductNotSupportedError':
      // The server answered but is not Elasticsearch (e.g. OpenSearch): no retry will change that.
      return { code: 'CONFIG_INVALID', retriable: false, status: null, detail: error.message };
    case 'DeserializationError':
    case 'SerializationError':
    case 'RequestAbortedError':
      return { code: 'UPSTREAM_REJECTED', retriable: false, status: null, detail: `${error.name}: ${error.message}` };
    default:
      return null;
  }
}

function describeErrorBody(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return typeof body === 'string' && body !== '' ? body : null;
  const error = (body as { error?: unknown }).error;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null) {
    const { type, reason } = error as { type?: unknown; reason?: unknown };
    return `${String(type ?? 'error')}: ${String(reason ?? '')}`;
  }
  return null;
}

function namedIds(failures: readonly ItemFailure[]): string {
  const shown = failures.slice(0, IDS_IN_MESSAGE).map((f) => `${f.id} (${f.status} ${f.type}: ${f.reason})`);
  const more = failures.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
}

export class ElasticsearchPredictionStore implements PredictionStore {
  private readonly client: Client;
  private readonly log: Logger;
  private readonly prefix: string;
  private readonly chunkSize: number;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly ownsClient: boolean;

  constructor(options: ElasticsearchStoreOptions) {
    this.client = options.client;
    this.log = options.logger.child({ component: 'predictions-store', backend: BACKEND });
    this.prefix = options.prefix ?? DEFAULT_INDEX_PREFIX;
    this.chunkSize = options.chunkSize ?? 500;
    this.maxAttempts = options.maxAttempts ?? 6;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.sleep = options.sleep ?? ((ms) => wait(ms));
    this.ownsClient = options.ownsClient ?? false;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1)
      throw new TickcastError('CONFIG_INVALID', `chunkSize must be a positive integer, got ${this.chunkSize}`);
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1)
      throw new TickcastError('CONFIG_INVALID', `maxAttempts must be a positive integer, got ${this.maxAttempts}`);
  }

  get performanceIndex(): string {
    return `${this.prefix}-model-performance`;
  }

  async ensureSchema(): Promise<void> {
    for (const template of [predictionsTemplate(this.prefix), performanceTemplate(this.prefix)]) {
      await this.call('put_index_template', (options) => this.client.indices.putIndexTemplate(template, options));
    }
    for (const [index, properties] of [
      [`${this.prefix}-predictions-*`, ADDED_PREDICTION_FIELDS],
      [this.performanceIndex, ADDED_PERFORMANCE_FIELDS],
    ] as const) {
      await this.call('put_mapping', (options) =>
        this.client.indices.putMapping(
          { index, properties, allow_no_indices: true, ignore_unavailable: true, expand_wildcards: 'open' },
          options,
        ),
      );
    }
  }

  async writePredictions(predictions: readonly Prediction[]): Promise<void> {
    checkPredictions(predictions);
    const items = predictions.map<BulkItem>((p) => ({
      id: p.id,
      action: { create: { _index: predictionIndexName(this.prefix, p.madeAt), _id: p.id } },
      source: p,
    }));
    await this.bulk('create', items, { refresh: false, conflictIsSuccess: true });
  }

  async recordOutcomes(outcomes: readonly PredictionOutcome[]): Promise<void> {
    checkOutcomes(outcomes);
    const unroutable = outcomes.filter((o) => madeAtOfPredictionId(o.id) === null).map((o) => o.id);
    if (unroutable.length > 0)
      throw new TickcastError(
        'INVALID_EVENT',
        `outcome ids are not prediction ids (pair|{h}m|{ISO madeAt}), so their index is unknown: ${unroutable.join(', ')}`,
      );
    const items = lastOutcomePerId(outcomes).map<BulkItem>((o) => ({
      id: o.id,
      action: {
        update: {
          _index: predictionIndexName(this.prefix, madeAtOfPredictionId(o.id) ?? 0),
          _id: o.id,
          retry_on_conflict: 3,
        },
      },
      source: { doc: { actualPrice: o.actualPrice, error: o.error } },
    }));
    // wait_for: once this returns, pendingDue no longer sees these predictions (search is
    // near-real-time), so the monitor does not join them a second time.
    await this.bulk('update', items, { refresh: 'wait_for', conflictIsSuccess: false });
  }

  async writePerformance(rows: readonly ModelPerformanceRow[]): Promise<void> {
    checkPerformanceRows(rows);
    const items = lastPerKey(rows).map<BulkItem>((row) => ({
      id: performanceKey(row),
      action: { index: { _index: this.performanceIndex, _id: performanceKey(row) } },
      source: row,
    }));
    await this.bulk('index', items, { refresh: false, conflictIsSuccess: false });
  }

  async pendingDue(now: number, limit: number): Promise<Prediction[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw new TickcastError('CONFIG_INVALID', `pendingDue limit must be an integer in 1..10000, got ${limit}`);
    const response = await this.call('search', (options) =>
      this.client.search<unknown>(pendingDueQuery(this.prefix, now, limit), options),
    );
    const result: Prediction[] = [];
    for (const hit of response.hits.hits) {
      const parsed = predictionSchema.safeParse(hit._source);
      if (parsed.success) result.push(parsed.data);
      else {
        invalidStored.inc({ backend: BACKEND });
        this.log.warn({ id: hit._id, index: hit._index, issues: parsed.error.issues }, 'stored prediction skipped');
      }
    }
    return result;
  }

  /**
   * Resolves when the cluster answers its health within `timeoutMs` and is not red: the
   * dependency check behind /ready. (Not `ping`: HEAD / answers 405 on the minimal distribution.)
   */
  async checkHealth(timeoutMs: number): Promise<void> {
    let status: string;
    try {
      ({ status } = await this.client.cluster.health({}, { maxRetries: 0, requestTimeout: timeoutMs }));
    } catch (error) {
      const failure = classifyClientError(error);
      throw new TickcastError(
        failure?.code ?? 'UPSTREAM_UNAVAILABLE',
        `elasticsearch does not answer: ${failure?.detail ?? String(error)}`,
        { cause: error },
      );
    }
    if (status.toLowerCase() === 'red') throw new TickcastError('UPSTREAM_UNAVAILABLE', 'elasticsearch cluster is red');
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }

  /**
   * One request with this module's retries: a retriable failure (429, 502-504, connection,
   * timeout) is sent again after a capped exponential backoff, up to maxAttempts in all;
   * anything else becomes a non-retriable TickcastError at once.
   */
  private async call<T>(op: string, send: (options: { maxRetries: number }) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const stop = requestSeconds.startTimer({ backend: BACKEND, op });
      try {
        const result = await send({ maxRetries: 0 });
        stop({ result: 'ok' });
        return result;
      } catch (error) {
        const failure = classifyClientError(error);
        stop({ result: failure === null ? 'error' : failure.retriable ? 'retriable' : 'rejected' });
        if (failure === null) throw error;
        if (!failure.retriable)
          throw new TickcastError(failure.code, `elasticsearch ${op} failed: ${failure.detail}`, { cause: error });
        if (attempt + 1 >= this.maxAttempts)
          throw new TickcastError(
            failure.code,
            `elasticsearch ${op} failed after ${attempt + 1} attempts: ${failure.detail}`,
            { cause: error },
          );
        const delay = backoffDelay(attempt, this.backoff);
        retries.inc({ backend: BACKEND, op, scope: 'request' });
        // Debug: an outage is logged once by the dependency check (lib/dependencies.ts), not per retry.
        this.log.debug({ op, attempt: attempt + 1, delayMs: delay, failure: failure.detail }, 'retrying request');
        await this.sleep(delay);
      }
    }
  }

  private async bulk(
    op: BulkOp,
    items: readonly BulkItem[],
    options: { refresh: 'wait_for' | false; conflictIsSuccess: boolean },
  ): Promise<void> {
    const rejected: ItemFailure[] = [];
    const exhausted: ItemFailure[] = [];
    for (const chunk of chunks(items, this.chunkSize)) {
      let pending = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        const operations = pending.flatMap((item) => [item.action, item.source]);
        const request: estypes.BulkRequest = options.refresh
          ? { operations, refresh: options.refresh }
          : { operations };
        const response = await this.call('bulk', (transport) => this.client.bulk(request, transport));
        if (response.items.length !== pending.length)
          throw new TickcastError(
            'UPSTREAM_REJECTED',
            `elasticsearch bulk answered ${response.items.length} items for ${pending.length} sent`,
          );
        const retry: BulkItem[] = [];
        const retryFailures: ItemFailure[] = [];
        let ok = 0;
        let duplicate = 0;
        response.items.forEach((entry, index) => {
          const item = pending[index] as BulkItem;
          const result = entry[op] ?? Object.values(entry)[0];
          const status = result?.status ?? 0;
          if (status >= 200 && status < 300) ok++;
          else if (status === 409 && options.conflictIsSuccess) duplicate++;
          else {
            const failure: ItemFailure = {
              id: item.id,
              status,
              type: result?.error?.type ?? 'unknown',
              reason: result?.error?.reason ?? 'no reason given',
            };
            if (RETRIABLE_STATUSES.has(status)) {
              retry.push(item);
              retryFailures.push(failure);
            } else rejected.push(failure);
          }
        });
        bulkItems.inc({ backend: BACKEND, op, outcome: 'ok' }, ok);
        bulkItems.inc({ backend: BACKEND, op, outcome: 'duplicate' }, duplicate);
        if (retry.length === 0) break;
        if (attempt + 1 >= this.maxAttempts) {
          exhausted.push(...retryFailures);
          break;
        }
        const delay = backoffDelay(attempt, this.backoff);
        bulkItems.inc({ backend: BACKEND, op, outcome: 'retried' }, retry.length);
        retries.inc({ backend: BACKEND, op, scope: 'items' });
        this.log.debug({ op, items: retry.length, attempt: attempt + 1, delayMs: delay }, 'retrying bulk items');
        await this.sleep(delay);
        pending = retry;
      }
    }
    bulkItems.inc({ backend: BACKEND, op, outcome: 'failed' }, rejected.length + exhausted.length);
    if (rejected.length === 0 && exhausted.length === 0) return;
    this.log.error({ op, rejected, exhausted }, 'bulk items failed');
    // Items that may pass later come first: the whole call is retried (the items written
    // meanwhile come back as duplicates or the same update), and the refused ones are
    // refused again then.
    if (exhausted.length > 0) {
      const alsoRejected = rejected.length > 0 ? `; also rejected ${namedIds(rejected)}` : '';
      throw new TickcastError(
        exhausted.some((f) => f.status === 429) ? 'RATE_LIMITED' : 'UPSTREAM_UNAVAILABLE',
        `elasticsearch ${op} item(s) still failing after ${this.maxAttempts} attempts: ${namedIds(exhausted)}${alsoRejected}`,
      );
    }
    // An outcome can overtake its prediction (another topic): "document missing" means not yet.
    const isMissing = (f: ItemFailure): boolean => op === 'update' && f.status === 404;
    const refused = rejected.filter((f) => !isMissing(f));
    if (refused.length > 0) {
      // A record that fails for itself would fail forever: the writer dead-letters it.
      throw new RecordsRefused(
        refused.map((f) => ({ id: f.id, reason: `${f.status} ${f.type}: ${f.reason}` })),
        `elasticsearch rejected ${refused.length} ${op} item(s): ${namedIds(refused)}`,
      );
    }
    throw new PredictionsNotStored(rejected.map((f) => f.id));
  }
}

/** A store on its own client (closed by close()). */
export function openElasticsearchStore(
  clientOptions: ClientOptions,
  options: Omit<ElasticsearchStoreOptions, 'client' | 'ownsClient'>,
): ElasticsearchPredictionStore {
  return new ElasticsearchPredictionStore({ ...options, client: new Client(clientOptions), ownsClient: true });
}
