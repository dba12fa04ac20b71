/**
 * The model registry: experiments, training runs (params, metrics, artifacts), registered
 * models, their versions and aliases. Two implementations share this interface and one
 * contract test suite (registry/contract.ts): MLflow over REST (registry/mlflow.ts) and a
 * local directory (registry/local.ts, the embedded default).
 *
 * Errors: every failure is a `RegistryError` (a TickcastError). The registry could not be
 * reached, timed out or answered 5xx: UPSTREAM_UNAVAILABLE (retriable). It refused the
 * request (4xx): UPSTREAM_REJECTED, with the registry's own error code (`registryCode`, MLflow's
 * `error_code`, e.g. RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE) and message. Lookups of
 * something that does not exist return null instead of throwing.
 */
import { TickcastError, type ErrorCode } from '../lib/errors.ts';

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface Experiment {
  readonly id: string;
  readonly name: string;
  /** Where the experiment's run artifacts live (e.g. `mlflow-artifacts:/3`, a file URL). */
  readonly artifactLocation: string | null;
  /** `active` or `deleted`. */
  readonly lifecycleStage: string;
  readonly createdAt: Date | null;
}

export interface RunInfo {
  readonly runId: string;
  readonly experimentId: string;
  readonly name: string | null;
  readonly status: RunStatus;
  readonly startTime: Date | null;
  readonly endTime: Date | null;
  /** Root of the run's artifacts, e.g. `mlflow-artifacts:/3/<run id>/artifacts`. */
  readonly artifactUri: string;
}

export interface Run extends RunInfo {
  readonly params: Readonly<Record<string, string>>;
  /**
   * The latest value of each metric (highest step, then latest timestamp). May be NaN; ±Infinity
   * comes back as ±Number.MAX_VALUE (what MLflow's SQL store keeps).
   */
  readonly metrics: Readonly<Record<string, number>>;
  readonly tags: Readonly<Record<string, string>>;
}

export interface ModelAlias {
  readonly alias: string;
  readonly version: string;
}

export interface RegisteredModel {
  readonly name: string;
  readonly description: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly tags: Readonly<Record<string, string>>;
  /** Sorted by alias. */
  readonly aliases: readonly ModelAlias[];
}

export interface ModelVersion {
  readonly modelName: string;
  /** A positive integer as a string ("1", "2", ...), as MLflow numbers versions. */
  readonly version: string;
  /** READY, PENDING_REGISTRATION or FAILED_REGISTRATION. */
  readonly status: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly runId: string | null;
  /** Where the version's files are: the run's artifact root joined with the registered path. */
  readonly source: string;
  readonly description: string | null;
  readonly tags: Readonly<Record<string, string>>;
  /** Aliases pointing at this version, sorted. */
  readonly aliases: readonly string[];
}

/** A version with what its training run logged. */
export interface ModelVersionDetails extends ModelVersion {
  /** The run's experiment; null when the version has no run or the run is gone. */
  readonly experimentId: string | null;
  readonly params: Readonly<Record<string, string>>;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface CreateRunOptions {
  readonly name?: string;
  readonly params?: Readonly<Record<string, string | number | boolean>>;
  readonly tags?: Readonly<Record<string, string>>;
  readonly startTime?: Date;
}

export interface LogMetricsOptions {
  /** Training step / epoch; 0 when not given. */
  readonly step?: number;
  readonly timestamp?: Date;
}

export interface ModelRegistry {
  /** Which implementation: `mlflow` or `local` (labels metrics and logs). */
  readonly kind: 'mlflow' | 'local';

  // ---- registered models, versions, aliases (what the models subgraph and the predictor read)

  /** Every registered model, sorted by name. */
  listModels(): Promise<RegisteredModel[]>;
  getModel(name: string): Promise<RegisteredModel | null>;
  /** The model's versions, newest first; null when the model does not exist. */
  listVersions(name: string): Promise<ModelVersion[] | null>;
  /** A version with its run's params and metrics; null when model or version does not exist. */
  getVersion(name: string, version: string): Promise<ModelVersionDetails | null>;
  /** The version an alias points at; null when the model or the alias does not exist. */
  getVersionByAlias(name: string, alias: string): Promise<ModelVersionDetails | null>;
  /**
   * Points `alias` at `version` (moving it when it pointed elsewhere). Unknown model or version:
   * RESOURCE_DOES_NOT_EXIST. Invalid or reserved alias (`latest`, `v<digits>`): INVALID_PARAMETER_VALUE.
   */
  setAlias(name: string, alias: string, version: string): Promise<void>;
  /** Removes an alias; removing one that does not exist is a no-op. Unknown model: RESOURCE_DOES_NOT_EXIST. */
  deleteAlias(name: string, alias: string): Promise<void>;

  // ---- training (what the trainer writes)

  /** The experiment with this name, created when missing. */
  ensureExperiment(name: string): Promise<Experiment>;
  getRun(runId: string): Promise<Run | null>;
  createRun(experimentId: string, options?: CreateRunOptions): Promise<RunInfo>;
  logMetrics(runId: string, metrics: Readonly<Record<string, number>>, options?: LogMetricsOptions): Promise<void>;
  /** Params are write-once: logging a different value for a logged key is INVALID_PARAMETER_VALUE. */
  logParams(runId: string, params: Readonly<Record<string, string | number | boolean>>): Promise<void>;
  /** Stores bytes at `path` (relative, `/`-separated) under the run's artifact root. */
  uploadArtifact(runId: string, path: string, bytes: Uint8Array): Promise<void>;
  /** The bytes at `path`; null when the run or the artifact does not exist. */
  downloadArtifact(runId: string, path: string): Promise<Uint8Array | null>;
  finishRun(runId: string, status?: 'FINISHED' | 'FAILED' | 'KILLED'): Promise<void>;
  /** Creates the registered model, or returns it unchanged when it already exists. */
  createRegisteredModel(
    name: string,
    options?: { readonly description?: string; readonly tags?: Readonly<Record<string, string>> },
  ): Promise<RegisteredModel>;
  /** Registers the run's artifacts under `artifactPath` as the model's next version. */
  createVersion(
    name: string,
    runId: string,
    artifactPath: string,
    options?: { readonly tags?: Readonly<Record<string, string>>; readonly description?: string },
  ): Promise<ModelVersion>;

  /** Link to the run in the registry's UI; null when the registry has no UI. */
  runUrl(runId: string, experimentId: string): string | null;
}

/** MLflow's error codes this code branches on; other codes pass through as strings. */
export const NOT_FOUND = 'RESOURCE_DOES_NOT_EXIST';
export const ALREADY_EXISTS = 'RESOURCE_ALREADY_EXISTS';
export const INVALID_PARAMETER = 'INVALID_PARAMETER_VALUE';

export class RegistryError extends TickcastError {
  /** The registry's own error code (MLflow's `error_code`), when it sent one. */
  readonly registryCode: string | null;
  /** HTTP status, when there was a response. */
  readonly status: number | null;

  constructor(
    code: ErrorCode,
    message: string,
    options: { registryCode?: string | null; status?: number | null; cause?: unknown } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.registryCode = options.registryCode ?? null;
    this.status = options.status ?? null;
  }
}

export const rejected = (registryCode: string, message: string, status: number | null = null): RegistryError =>
  new RegistryError('UPSTREAM_REJECTED', message, { registryCode, status });

export function isRegistryCode(error: unknown, registryCode: string): error is RegistryError {
  return error instanceof RegistryError && error.registryCode === registryCode;
}

const ALIAS = /^[\w-]+$/;
const RESERVED_VERSION_ALIAS = /^v\d+$/i;
const VERSION = /^[1-9]\d*$/;

/** MLflow's alias rules, enforced by both implementations. */
export function checkAlias(alias: string): void {
  if (!ALIAS.test(alias) || alias.length > 255) {
    throw rejected(
      INVALID_PARAMETER,
      `Invalid alias name: '${alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-).`,
    );
  }
  if (alias.toLowerCase() === 'latest') throw rejected(INVALID_PARAMETER, "'latest' alias name is reserved.");
  if (RESERVED_VERSION_ALIAS.test(alias))
    throw rejected(INVALID_PARAMETER, `Version alias name '${alias}' is reserved.`);
}

/** Versions are positive integers; anything else names no version. */
export const isVersionString = (version: string): boolean => VERSION.test(version);

/**
 * A relative `/`-separated artifact path without empty, `.` or `..` segments. Also refused,
 * because MLflow's artifact proxy refuses or rewrites them: `#` ("Invalid path"), `%` (decoded
 * repeatedly), `:` (file URIs, drive letters), `\\` and control characters.
 */
export function checkArtifactPath(path: string): string[] {
  const segments = path.split('/');
  if (
    path.length === 0 ||
    // eslint-disable-next-line no-control-regex
    /[#%:\\\x00-\x1f\x7f]/.test(path) ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw rejected(
      INVALID_PARAMETER,
      `invalid artifact path '${path}': expected a relative path like 'model/weights.json' ` +
        "(no empty, '.' or '..' parts; no '#', '%', ':', '\\' or control characters)",
    );
  }
  return segments;
}

export function checkName(what: string, name: string): void {
  if (name.trim().length === 0 || name.includes('\0'))
    throw rejected(INVALID_PARAMETER, `${what} name must not be empty`);
}

/** Numeric version order, newest first. */
export const newestFirst = (a: { version: string }, b: { version: string }): number =>
  Number(b.version) - Number(a.version);

/** JSON for a double: MLflow's strings for the values JSON has no number for. */
export function encodeDouble(value: number): number | string {
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}
