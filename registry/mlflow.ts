/**
 * The model registry on an MLflow tracking server (REST API 2.0, checked against MLflow 3.17.2).
 *
 * Artifacts go through the server's artifact proxy (`mlflow server --serve-artifacts`): a run's
 * artifact root is `mlflow-artifacts:/<experiment id>/<run id>/artifacts`, served at
 * `/api/2.0/mlflow-artifacts/artifacts/<experiment id>/<run id>/artifacts/<path>` (PUT uploads,
 * GET downloads). Servers without the proxy hand out other roots (s3://, file:) which this
 * client refuses with a message saying so.
 *
 * Every response is validated with zod; failures become RegistryErrors (see registry.ts).
 * Requests are not retried here: UPSTREAM_UNAVAILABLE is retriable and the caller decides.
 */
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { counter, histogram } from '../lib/metrics.ts';
import {
  ALREADY_EXISTS,
  INVALID_PARAMETER,
  NOT_FOUND,
  RegistryError,
  checkAlias,
  checkArtifactPath,
  checkName,
  encodeDouble,
  isRegistryCode,
  isVersionString,
  newestFirst,
  rejected,
  type CreateRunOptions,
  type Experiment,
  type LogMetricsOptions,
  type ModelRegistry,
  type ModelVersion,
  type ModelVersionDetails,
  type RegisteredModel,
  type Run,
  type RunInfo,
} from './registry.ts';

const requests = counter('tickcast_registry_requests_total', 'Model registry requests, by operation and outcome', [
  'backend',
  'operation',
  'outcome',
]);
const requestSeconds = histogram(
  'tickcast_registry_request_seconds',
  'Time for one model registry request',
  ['backend', 'operation'],
  [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
);

// ---- MLflow JSON -> typed values

const millis = z.union([z.number(), z.string().regex(/^\d+$/)]).transform((v) => new Date(Number(v)));
/** MLflow writes non-finite doubles as the strings "NaN", "Infinity", "-Infinity". */
const double = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number)]);
const keyValues = z
  .array(z.object({ key: z.string(), value: z.string() }))
  .optional()
  .transform((entries) => Object.fromEntries((entries ?? []).map((e) => [e.key, e.value])));
const emptyToNull = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s === '' ? null : s));

const experimentSchema = z
  .object({
    experiment_id: z.string(),
    name: z.string(),
    artifact_location: emptyToNull,
    lifecycle_stage: z.string(),
    creation_time: millis.optional(),
  })
  .transform((e): Experiment => ({
    id: e.experiment_id,
    name: e.name,
    artifactLocation: e.artifact_location,
    lifecycleStage: e.lifecycle_stage,
    createdAt: e.creation_time ?? null,
  }));

const runInfoSchema = z
  .object({
    run_id: z.string(),
    experiment_id: z.string(),
    run_name: emptyToNull,
    status: z.enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']),
    start_time: millis.optional(),
    end_time: millis.optional(),
    artifact_uri: z.string(),
  })
  .transform((r): RunInfo => ({
    runId: r.run_id,
    experimentId: r.experiment_id,
    name: r.run_name,
    status: r.status,
    startTime: r.start_time ?? null,
    endTime: r.end_time ?? null,
    artifactUri: r.artifact_uri,
  }));

const runSchema = z
  .object({
    info: runInfoSchema,
    data: z
      .object({
        metrics: z.array(z.object({ key: z.string(), value: double })).optional(),
        params: keyValues,
        tags: keyValues,
      })
      .optional(),
  })
  .transform((r): Run => ({
    ...r.info,
    // runs/get returns the latest value of each metric only
    metrics: Object.fromEntries((r.data?.metrics ?? []).map((m) => [m.key, m.value])),
    params: r.data?.params ?? {},
    tags: r.data?.tags ?? {},
  }));

const registeredModelSchema = z
  .object({
    name: z.string(),
    creation_timestamp: millis,
    last_updated_timestamp: millis.optional(),
    description: emptyToNull,
    tags: keyValues,
    aliases: z.array(z.object({ alias: z.string(), version: z.string() })).optional(),
  })
  .transform((m): RegisteredModel => ({
    name: m.name,
    description: m.description,
    createdAt: m.creation_timestamp,
    updatedAt: m.last_updated_timestamp ?? m.creation_timestamp,
    tags: m.tags,
    aliases: (m.aliases ?? []).toSorted((a, b) => a.alias.localeCompare(b.alias)),
  }));

const modelVersionSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    creation_timestamp: millis,
    last_updated_timestamp: millis.optional(),
    status: z.string(),
    source: z.string().optional().default(''),
    run_id: emptyToNull,
    description: emptyToNull,
    tags: keyValues,
    aliases: z.array(z.string()).optional(),
  })
  .transform((v): ModelVersion => ({
    modelName: v.name,
    version: v.version,
    status: v.status,
    createdAt: v.creation_timestamp,
    updatedAt: v.last_updated_timestamp ?? v.creation_timestamp,
    runId: v.run_id,
    source: v.source,
    description: v.description,
    tags: v.tags,
    aliases: (v.aliases ?? []).toSorted(),
  }));

const errorBodySchema = z.object({ error_code: z.string().optional(), message: z.string().optional() });
const pageToken = z.string().optional();

// ---- the client

export interface MlflowRegistryOptions {
  /** The tracking server, e.g. http://127.0.0.1:5000 (MLFLOW_TRACKING_URI). */
  readonly trackingUri: string;
  /** Base of UI links when users reach the UI elsewhere than the tracking URI. */
  readonly uiUrl?: string;
  /** Per request (default 10 s). */
  readonly timeoutMs?: number;
  /** Per artifact upload/download (default 120 s). */
  readonly artifactTimeoutMs?: number;
  /** Extra headers, e.g. { authorization: 'Bearer …' }. */
  readonly headers?: Readonly<Record<string, string>>;
}

type Query = Record<string, string | number | undefined>;

interface Call {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Full URL, or a path under /api/2.0/mlflow/. */
  readonly url: string;
  readonly operation: string;
  readonly query?: Query;
  readonly json?: unknown;
  readonly bytes?: Uint8Array;
  readonly timeoutMs?: number;
  /** A 404 RESOURCE_DOES_NOT_EXIST answers null instead of throwing. */
  readonly nullWhenMissing?: boolean;
}

const BATCH_METRICS = 1000; // MLflow's runs/log-batch limits
const BATCH_PARAMS = 100;
const PAGE_SIZE = 1000;
const ARTIFACT_ROOTS_CACHED = 10_000;

export class MlflowRegistry implements ModelRegistry {
  readonly kind = 'mlflow' as const;
  private readonly base: string;
  private readonly ui: string;
  private readonly timeoutMs: number;
  private readonly artifactTimeoutMs: number;
  private readonly headers: Readonly<Record<string, string>>;
  /** run id -> HTTP base of its artifacts (a run's artifact root never changes); the least recently used go first */
  private readonly artifactRoots = new LRUCache<string, string>({ max: ARTIFACT_ROOTS_CACHED });

  constructor(options: MlflowRegistryOptions) {
    this.base = options.trackingUri.replace(/\/+$/, '');
    if (!/^https?:\/\//.test(this.base)) {
      throw new RegistryError('CONFIG_INVALID', `MLflow tracking URI must be http(s)://host:port, got '${this.base}'`);
    }
    this.ui = (options.uiUrl ?? this.base).replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.artifactTimeoutMs = options.artifactTimeoutMs ?? 120_000;
    this.headers = options.headers ?? {};
  }

  // ---- registered models, versions, aliases

  async listModels(): Promise<RegisteredModel[]> {
    const models: RegisteredModel[] = [];
    let token: string | undefined;
    do {
      const page = await this.json(
        {
          method: 'GET',
          url: 'registered-models/search',
          operation: 'search-models',
          query: { max_results: PAGE_SIZE, page_token: token },
        },
        z.object({ registered_models: z.array(registeredModelSchema).optional(), next_page_token: pageToken }),
      );
      models.push(...(page.registered_models ?? []));
      token = page.next_page_token || undefined;
    } while (token);
    return models.toSorted((a, b) => a.name.localeCompare(b.name));
  }

  async getModel(name: string): Promise<RegisteredModel | null> {
    const found = await this.jsonOrNull(
      { method: 'GET', url: 'registered-models/get', operation: 'get-model', query: { name } },
      z.object({ registered_model: registeredModelSchema }),
    );
    return found?.registered_model ?? null;
  }

  async listVersions(name: string): Promise<ModelVersion[] | null> {
    const model = await this.getModel(name);
    if (!model) return null;
    const versions: ModelVersion[] = [];
    let token: string | undefined;
    do {
      const page = await this.json(
        {
          method: 'GET',
          url: 'model-versions/search',
          operation: 'search-versions',
          query: { filter: `name=${quoteFilter(name)}`, max_results: PAGE_SIZE, page_token: token },
        },
        z.object({ model_versions: z.array(modelVersionSchema).optional(), next_page_token: pageToken }),
      );
      versions.push(...(page.model_versions ?? []));
      token = page.next_page_token || undefined;
    } while (token);
    // model-versions/search leaves out aliases (checked on 3.17.2); the model has them.
    return versions
      .filter((v) => v.modelName === name)
      .map((v) => ({ ...v, aliases: model.aliases.filter((a) => a.version === v.version).map((a) => a.alias) }))
      .toSorted(newestFirst);
  }

  async getVersion(name: string, version: string): Promise<ModelVersionDetails | null> {
    if (!isVersionString(version)) return null; // MLflow answers 400 for a non-integer version
    const found = await this.jsonOrNull(
      { method: 'GET', url: 'model-versions/get', operation: 'get-version', query: { name, version } },
      z.object({ model_version: modelVersionSchema }),
    );
    return found ? this.withRun(found.model_version) : null;
  }

  async getVersionByAlias(name: string, alias: string): Promise<ModelVersionDetails | null> {
    try {
      const found = await this.jsonOrNull(
        { method: 'GET', url: 'registered-models/alias', operation: 'get-version-by-alias', query: { name, alias } },
        z.object({ model_version: modelVersionSchema }),
      );
      return found ? this.withRun(found.model_version) : null;
    } catch (error) {
      // An unknown alias of a known model is a 400 INVALID_PARAMETER_VALUE ("Registered model
      // alias x not found"), not a 404: confirm on the model rather than parse the message.
      if (!isRegistryCode(error, INVALID_PARAMETER)) throw error;
      const model = await this.getModel(name);
      if (!model || !model.aliases.some((a) => a.alias === alias)) return null;
      throw error;
    }
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    checkAlias(alias);
    checkVersion(version);
    await this.json(
      { method: 'POST', url: 'registered-models/alias', operation: 'set-alias', json: { name, alias, version } },
      z.object({}),
    );
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    // MLflow 3.17.2 reads DELETE parameters from a JSON body, not the query string.
    await this.json(
      { method: 'DELETE', url: 'registered-models/alias', operation: 'delete-alias', json: { name, alias } },
      z.object({}),
    );
  }

  // ---- training

  async ensureExperiment(name: string): Promise<Experiment> {
    checkName('experiment', name);
    const existing = await this.experimentByName(name);
    if (existing) return checkActive(existing);
    try {
      await this.json(
        { method: 'POST', url: 'experiments/create', operation: 'create-experiment', json: { name } },
        z.object({ experiment_id: z.string() }),
      );
    } catch (error) {
      if (!isRegistryCode(error, ALREADY_EXISTS)) throw error; // created concurrently
    }
    const created = await this.experimentByName(name);
    if (!created) throw rejected(NOT_FOUND, `experiment '${name}' was created but cannot be read back`);
    return checkActive(created);
  }

  async getRun(runId: string): Promise<Run | null> {
    const found = await this.jsonOrNull(
      { method: 'GET', url: 'runs/get', operation: 'get-run', query: { run_id: runId } },
      z.object({ run: runSchema }),
    );
    if (found) this.rememberArtifactRoot(found.run);
    return found?.run ?? null;
  }

  async createRun(experimentId: string, options: CreateRunOptions = {}): Promise<RunInfo> {
    const created = await this.json(
      {
        method: 'POST',
        url: 'runs/create',
        operation: 'create-run',
        json: {
          experiment_id: experimentId,
          ...(options.name === undefined ? {} : { run_name: options.name }),
          start_time: (options.startTime ?? new Date()).getTime(),
          tags: Object.entries(options.tags ?? {}).map(([key, value]) => ({ key, value })),
        },
      },
      z.object({ run: z.object({ info: runInfoSchema }) }),
    );
    const info = created.run.info;
    this.rememberArtifactRoot(info);
    if (options.params && Object.keys(options.params).length > 0) await this.logParams(info.runId, options.params);
    return info;
  }

  async logMetrics(
    runId: string,
    metrics: Readonly<Record<string, number>>,
    options: LogMetricsOptions = {},
  ): Promise<void> {
    const timestamp = (options.timestamp ?? new Date()).getTime();
    const step = options.step ?? 0;
    if (!Number.isInteger(step)) throw rejected(INVALID_PARAMETER, `metric step must be an integer, got ${step}`);
    const entries = Object.entries(metrics).map(([key, value]) => ({
      key,
      value: encodeDouble(value),
      timestamp,
      step,
    }));
    for (const chunk of chunks(entries, BATCH_METRICS)) {
      await this.json(
        { method: 'POST', url: 'runs/log-batch', operation: 'log-batch', json: { run_id: runId, metrics: chunk } },
        z.object({}),
      );
    }
  }

  async logParams(runId: string, params: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    const entries = Object.entries(params).map(([key, value]) => ({ key, value: String(value) }));
    for (const chunk of chunks(entries, BATCH_PARAMS)) {
      await this.json(
        { method: 'POST', url: 'runs/log-batch', operation: 'log-batch', json: { run_id: runId, params: chunk } },
        z.object({}),
      );
    }
  }

  async uploadArtifact(runId: string, path: string, bytes: Uint8Array): Promise<void> {
    const segments = checkArtifactPath(path);
    const root = await this.artifactRoot(runId);
    if (root === null) throw rejected(NOT_FOUND, `run '${runId}' not found`);
    await this.json(
      {
        method: 'PUT',
        url: artifactUrl(root, segments),
        operation: 'upload-artifact',
        bytes,
        timeoutMs: this.artifactTimeoutMs,
      },
      z.object({}),
    );
  }

  async downloadArtifact(runId: string, path: string): Promise<Uint8Array | null> {
    const segments = checkArtifactPath(path);
    const root = await this.artifactRoot(runId);
    if (root === null) return null;
    const response = await this.send({
      method: 'GET',
      url: artifactUrl(root, segments),
      operation: 'download-artifact',
      timeoutMs: this.artifactTimeoutMs,
      nullWhenMissing: true,
    });
    if (response === null) return null;
    try {
      return new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw this.unavailable('download-artifact', error, this.artifactTimeoutMs);
    }
  }

  async finishRun(runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED' = 'FINISHED'): Promise<void> {
    await this.json(
      {
        method: 'POST',
        url: 'runs/update',
        operation: 'update-run',
        json: { run_id: runId, status, end_time: Date.now() },
      },
      z.object({ run_info: z.unknown() }),
    );
  }

  async createRegisteredModel(
    name: string,
    options: { readonly description?: string; readonly tags?: Readonly<Record<string, string>> } = {},
  ): Promise<RegisteredModel> {
    checkName('model', name);
    try {
      const created = await this.json(
        {
          method: 'POST',
          url: 'registered-models/create',
          operation: 'create-model',
          json: {
            name,
            ...(options.description === undefined ? {} : { description: options.description }),
            tags: Object.entries(options.tags ?? {}).map(([key, value]) => ({ key, value })),
          },
        },
        z.object({ registered_model: registeredModelSchema }),
      );
      return created.registered_model;
    } catch (error) {
      if (!isRegistryCode(error, ALREADY_EXISTS)) throw error;
      const existing = await this.getModel(name);
      if (!existing) throw error;
      return existing;
    }
  }

  async createVersion(
    name: string,
    runId: string,
    artifactPath: string,
    options: { readonly tags?: Readonly<Record<string, string>>; readonly description?: string } = {},
  ): Promise<ModelVersion> {
    checkArtifactPath(artifactPath);
    const run = await this.getRun(runId);
    if (!run) throw rejected(NOT_FOUND, `run '${runId}' not found`);
    const created = await this.json(
      {
        method: 'POST',
        url: 'model-versions/create',
        operation: 'create-version',
        json: {
          name,
          source: `${run.artifactUri.replace(/\/+$/, '')}/${artifactPath}`,
          run_id: runId,
          ...(options.description === undefined ? {} : { description: options.description }),
          tags: Object.entries(options.tags ?? {}).map(([key, value]) => ({ key, value })),
        },
      },
      z.object({ model_version: modelVersionSchema }),
    );
    return created.model_version;
  }

  runUrl(runId: string, experimentId: string): string {
    return `${this.ui}/#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
  }

  // ---- helpers

  private async experimentByName(name: string): Promise<Experiment | null> {
    const found = await this.jsonOrNull(
      { method: 'GET', url: 'experiments/get-by-name', operation: 'get-experiment', query: { experiment_name: name } },
      z.object({ experiment: experimentSchema }),
    );
    return found?.experiment ?? null;
  }

  private async withRun(version: ModelVersion): Promise<ModelVersionDetails> {
    const run = version.runId === null ? null : await this.getRun(version.runId);
    return {
      ...version,
      experimentId: run?.experimentId ?? null,
      params: run?.params ?? {},
      metrics: run?.metrics ?? {},
    };
  }

  private rememberArtifactRoot(run: RunInfo): void {
    this.artifactRoots.set(run.runId, this.proxiedRoot(run));
  }

  /** HTTP base URL of a run's artifacts; null when the run does not exist. */
  private async artifactRoot(runId: string): Promise<string | null> {
    const known = this.artifactRoots.get(runId);
    if (known !== undefined) return known;
    const run = await this.getRun(runId);
    return run ? this.proxiedRoot(run) : null;
  }

  private proxiedRoot(run: RunInfo): string {
    const uri = run.artifactUri.replace(/\/+$/, '');
    if (uri.startsWith('mlflow-artifacts:')) {
      // mlflow-artifacts:/<path> or mlflow-artifacts://host:port/<path>; always through this server
      return `${this.base}/api/2.0/mlflow-artifacts/artifacts${new URL(uri).pathname}`;
    }
    if (/^https?:\/\/[^/]+\/(.*\/)?api\/2\.0\/mlflow-artifacts\/artifacts\//.test(uri)) return uri;
    throw rejected(
      'UNSUPPORTED_ARTIFACT_STORE',
      `run ${run.runId} stores artifacts at '${run.artifactUri}', which this client cannot reach: ` +
        'start the MLflow server with --serve-artifacts (artifact roots mlflow-artifacts:/...)',
    );
  }

  private async json<T>(call: Call, schema: z.ZodType<T>): Promise<T> {
    const value = await this.parse(call, schema);
    if (value === null) throw rejected(NOT_FOUND, `MLflow ${call.operation}: not found`, 404);
    return value;
  }

  /** The parsed body, or null for a 404 RESOURCE_DOES_NOT_EXIST. */
  private jsonOrNull<T>(call: Call, schema: z.ZodType<T>): Promise<T | null> {
    return this.parse({ ...call, nullWhenMissing: true }, schema);
  }

  private async parse<T>(call: Call, schema: z.ZodType<T>): Promise<T | null> {
    const response = await this.send(call);
    if (response === null) return null;
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.unavailable(call.operation, error, call.timeoutMs ?? this.timeoutMs);
    }
    let body: unknown;
    try {
      body = text.length === 0 ? {} : JSON.parse(text);
    } catch {
      throw rejected('INVALID_RESPONSE', `MLflow ${call.operation} answered with non-JSON: ${text.slice(0, 200)}`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw rejected(
        'INVALID_RESPONSE',
        `MLflow ${call.operation} answered with an unexpected shape: ${z.prettifyError(parsed.error)}`,
      );
    }
    return parsed.data;
  }

  /** Sends one request: the 2xx response, null for a 404 RESOURCE_DOES_NOT_EXIST when asked, else throws. */
  private async send(call: Call): Promise<Response | null> {
    const url = new URL(/^https?:/.test(call.url) ? call.url : `${this.base}/api/2.0/mlflow/${call.url}`);
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    const stop = requestSeconds.startTimer({ backend: 'mlflow', operation: call.operation });
    const outcome = (o: string) => requests.inc({ backend: 'mlflow', operation: call.operation, outcome: o });
    let response: Response;
    try {
      response = await fetch(url, {
        method: call.method,
        headers: {
          ...this.headers,
          ...(call.json === undefined ? {} : { 'content-type': 'application/json' }),
          ...(call.bytes === undefined ? {} : { 'content-type': 'application/octet-stream' }),
        },
        ...(call.json === undefined ? {} : { body: JSON.stringify(call.json) }),
        ...(call.bytes === undefined ? {} : { body: call.bytes }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      stop();
      outcome('unavailable');
      throw this.unavailable(call.operation, error, timeoutMs);
    }
    stop();
    if (response.ok) {
      outcome('ok');
      return response;
    }
    const text = await response.text().catch(() => '');
    if (response.status === 429) {
      outcome('rate_limited');
      throw new RegistryError('RATE_LIMITED', `MLflow ${call.operation} was rate limited (429)`, { status: 429 });
    }
    if (response.status >= 500) {
      outcome('unavailable');
      throw new RegistryError(
        'UPSTREAM_UNAVAILABLE',
        `MLflow ${call.operation} failed with HTTP ${response.status}: ${text.slice(0, 300)}`,
        { status: response.status },
      );
    }
    const body = parseErrorBody(text);
    if (call.nullWhenMissing && response.status === 404 && body.error_code === NOT_FOUND) {
      outcome('not_found');
      return null;
    }
    outcome('rejected');
    throw rejected(
      body.error_code ?? `HTTP_${response.status}`,
      `MLflow refused ${call.operation} (HTTP ${response.status} ${body.error_code ?? ''}): ${body.message ?? text.slice(0, 300)}`,
      response.status,
    );
  }

  private unavailable(operation: string, error: unknown, timeoutMs: number): RegistryError {
    const name = error instanceof Error ? error.name : '';
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new RegistryError(
        'UPSTREAM_UNAVAILABLE',
        `MLflow at ${this.base} did not answer ${operation} within ${timeoutMs} ms`,
        { cause: error },
      );
    }
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const detail =
      (cause as { code?: unknown } | null)?.code ?? (cause instanceof Error ? cause.message : String(cause));
    return new RegistryError(
      'UPSTREAM_UNAVAILABLE',
      `MLflow at ${this.base} cannot be reached for ${operation} (${String(detail)})`,
      {
        cause: error,
      },
    );
  }
}

function parseErrorBody(text: string): { error_code?: string | undefined; message?: string | undefined } {
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

function checkActive(experiment: Experiment): Experiment {
  if (experiment.lifecycleStage !== 'active') {
    throw rejected(
      INVALID_PARAMETER,
      `experiment '${experiment.name}' (id ${experiment.id}) is ${experiment.lifecycleStage}: restore it in MLflow or use another name`,
    );
  }
  return experiment;
}

function checkVersion(version: string): void {
  if (!isVersionString(version)) {
    throw rejected(INVALID_PARAMETER, `version must be a positive integer, got '${version}'`);
  }
}

function artifactUrl(root: string, segments: readonly string[]): string {
  return `${root}/${segments.map(encodeURIComponent).join('/')}`;
}

/** A string literal in MLflow's search filter syntax. */
function quoteFilter(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw rejected(INVALID_PARAMETER, `model name ${value} cannot be searched (contains both quote characters)`);
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
