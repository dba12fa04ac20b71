/**
 * The model registry in a local directory: the embedded default when no MLflow server is
 * configured. Same behaviour as the MLflow registry (registry/contract.ts runs against both),
 * kept as JSON files and artifact files:
 *
 *   <root>/experiments.json
 *   <root>/runs/<run id>/run.json             info, params, latest metrics, tags
 *   <root>/runs/<run id>/artifacts/<path>
 *   <root>/models/<encoded name>/model.json   description, tags, aliases
 *   <root>/models/<encoded name>/versions/<n>.json
 *
 * Every file is written to a temporary name, synced and renamed into place, so a reader
 * (or a crash) never sees half a file. Writes within one process are serialized per
 * directory; the directory is meant for one writing process (the trainer) at a time.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import {
  INVALID_PARAMETER,
  NOT_FOUND,
  RegistryError,
  checkAlias,
  checkArtifactPath,
  checkName,
  encodeDouble,
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
  type RunStatus,
} from './registry.ts';

// ---- files -> typed values (files may be edited by hand or come from another version)

const double = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number)]);
const strings = z.record(z.string(), z.string());

const experimentsFile = z.object({
  experiments: z.array(z.object({ id: z.string(), name: z.string(), createdAt: z.number() })),
});
type ExperimentsFile = z.infer<typeof experimentsFile>;

const runFile = z.object({
  runId: z.string(),
  experimentId: z.string(),
  name: z.string().nullable(),
  status: z.enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']),
  startTime: z.number().nullable(),
  endTime: z.number().nullable(),
  params: strings,
  metrics: z.record(z.string(), z.object({ value: double, step: z.number(), timestamp: z.number() })),
  tags: strings,
});
type RunFile = z.infer<typeof runFile>;

const modelFile = z.object({
  name: z.string(),
  description: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
  tags: strings,
  /** alias -> version */
  aliases: strings,
});
type ModelFile = z.infer<typeof modelFile>;

const versionFile = z.object({
  version: z.string(),
  status: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  runId: z.string().nullable(),
  source: z.string(),
  description: z.string().nullable(),
  tags: strings,
});
type VersionFile = z.infer<typeof versionFile>;

const RUN_ID = /^[0-9a-f]{32}$/;

/** Serializes writes per directory within this process. */
const queues = new Map<string, Promise<unknown>>();

export class LocalRegistry implements ModelRegistry {
  readonly kind = 'local' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  // ---- registered models, versions, aliases

  async listModels(): Promise<RegisteredModel[]> {
    const names = await this.list(join(this.root, 'models'));
    const models = await Promise.all(names.map((dir) => this.readModelDir(dir)));
    return models.flatMap((m) => (m ? [toModel(m)] : [])).toSorted((a, b) => a.name.localeCompare(b.name));
  }

  async getModel(name: string): Promise<RegisteredModel | null> {
    const model = await this.readModel(name);
    return model ? toModel(model) : null;
  }

  async listVersions(name: string): Promise<ModelVersion[] | null> {
    const model = await this.readModel(name);
    if (!model) return null;
    const files = (await this.list(join(this.modelDir(name), 'versions'))).filter((f) => /^[1-9]\d*\.json$/.test(f));
    const versions = await Promise.all(files.map((f) => this.readVersion(name, f.slice(0, -'.json'.length))));
    return versions.flatMap((v) => (v ? [toVersion(model, v)] : [])).toSorted(newestFirst);
  }

  async getVersion(name: string, version: string): Promise<ModelVersionDetails | null> {
    const model = await this.readModel(name);
    const file = model && isVersionString(version) ? await this.readVersion(name, version) : null;
    return model && file ? this.withRun(toVersion(model, file)) : null;
  }

  async getVersionByAlias(name: string, alias: string): Promise<ModelVersionDetails | null> {
    const model = await this.readModel(name);
    const version = model?.aliases[alias];
    return version === undefined ? null : this.getVersion(name, version);
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    checkAlias(alias);
    if (!isVersionString(version)) {
      throw rejected(INVALID_PARAMETER, `version must be a positive integer, got '${version}'`);
    }
    await this.serialized(async () => {
      const model = await this.readModel(name);
      if (!model || !(await this.readVersion(name, version))) {
        throw rejected(NOT_FOUND, `Model Version (name=${name}, version=${version}) not found`);
      }
      await this.writeJson(join(this.modelDir(name), 'model.json'), {
        ...model,
        aliases: { ...model.aliases, [alias]: version },
        updatedAt: Date.now(),
      } satisfies ModelFile);
    });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.serialized(async () => {
      const model = await this.readModel(name);
      if (!model) throw rejected(NOT_FOUND, `Registered Model with name=${name} not found`);
      if (!(alias in model.aliases)) return;
      const aliases = Object.fromEntries(Object.entries(model.aliases).filter(([a]) => a !== alias));
      await this.writeJson(join(this.modelDir(name), 'model.json'), {
        ...model,
        aliases,
        updatedAt: Date.now(),
      } satisfies ModelFile);
    });
  }

  // ---- training

  async ensureExperiment(name: string): Promise<Experiment> {
    checkName('experiment', name);
    return this.serialized(async () => {
      const file = (await this.readJson(join(this.root, 'experiments.json'), experimentsFile)) ?? { experiments: [] };
      const existing = file.experiments.find((e) => e.name === name);
      if (existing) return this.toExperiment(existing);
      const id = String(file.experiments.reduce((max, e) => Math.max(max, Number(e.id)), 0) + 1);
      const created = { id, name, createdAt: Date.now() };
      await this.writeJson(join(this.root, 'experiments.json'), {
        experiments: [...file.experiments, created],
      } satisfies ExperimentsFile);
      return this.toExperiment(created);
    });
  }

  async getRun(runId: string): Promise<Run | null> {
    const run = await this.readRun(runId);
    return run ? this.toRun(run) : null;
  }

  async createRun(experimentId: string, options: CreateRunOptions = {}): Promise<RunInfo> {
    const run = await this.serialized(async () => {
      const experiments = await this.readJson(join(this.root, 'experiments.json'), experimentsFile);
      if (!experiments?.experiments.some((e) => e.id === experimentId)) {
        throw rejected(NOT_FOUND, `No Experiment with id=${experimentId} exists`);
      }
      const created: RunFile = {
        runId: randomBytes(16).toString('hex'),
        experimentId,
        name: options.name ?? null,
        status: 'RUNNING',
        startTime: (options.startTime ?? new Date()).getTime(),
        endTime: null,
        params: {},
        metrics: {},
        tags: { ...options.tags, ...(options.name === undefined ? {} : { 'mlflow.runName': options.name }) },
      };
      await this.writeRun(created);
      return created;
    });
    if (options.params && Object.keys(options.params).length > 0) await this.logParams(run.runId, options.params);
    return this.toRunInfo(run);
  }

  async logMetrics(
    runId: string,
    metrics: Readonly<Record<string, number>>,
    options: LogMetricsOptions = {},
  ): Promise<void> {
    const timestamp = (options.timestamp ?? new Date()).getTime();
    const step = options.step ?? 0;
    if (!Number.isInteger(step)) throw rejected(INVALID_PARAMETER, `metric step must be an integer, got ${step}`);
    await this.updateRun(runId, (run) => {
      const latest = { ...run.metrics };
      for (const [key, value] of Object.entries(metrics)) {
        const current = latest[key];
        // MLflow's "latest" metric: highest step, then latest timestamp
        if (!current || step > current.step || (step === current.step && timestamp >= current.timestamp)) {
          // as MLflow's SQL store: ±Infinity is kept as ±Number.MAX_VALUE, NaN as NaN
          latest[key] = { value: Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, value)), step, timestamp };
        }
      }
      return { ...run, metrics: latest };
    });
  }

  async logParams(runId: string, params: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    await this.updateRun(runId, (run) => {
      const changed = Object.entries(params).filter(
        ([k, v]) => run.params[k] !== undefined && run.params[k] !== String(v),
      );
      if (changed.length > 0) {
        throw rejected(
          INVALID_PARAMETER,
          `Changing param values is not allowed. Params were already logged: ${changed
            .map(([k, v]) => `${k} (old ${run.params[k]}, new ${String(v)})`)
            .join(', ')} for run ID='${runId}'.`,
        );
      }
      return {
        ...run,
        params: { ...run.params, ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])) },
      };
    });
  }

  async uploadArtifact(runId: string, path: string, bytes: Uint8Array): Promise<void> {
    const segments = checkArtifactPath(path);
    if (!(await this.readRun(runId))) throw rejected(NOT_FOUND, `Run with id=${runId} not found`);
    await this.writeBytes(join(this.runDir(runId), 'artifacts', ...segments), bytes);
  }

  async downloadArtifact(runId: string, path: string): Promise<Uint8Array | null> {
    const segments = checkArtifactPath(path);
    if (!RUN_ID.test(runId)) return null;
    try {
      return new Uint8Array(await readFile(join(this.runDir(runId), 'artifacts', ...segments)));
    } catch (error) {
      if (isMissing(error) || (error as { code?: unknown }).code === 'EISDIR') return null;
      throw unavailable(error);
    }
  }

  async finishRun(runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED' = 'FINISHED'): Promise<void> {
    await this.updateRun(runId, (run) => ({ ...run, status, endTime: Date.now() }));
  }

  async createRegisteredModel(
    name: string,
    options: { readonly description?: string; readonly tags?: Readonly<Record<string, string>> } = {},
  ): Promise<RegisteredModel> {
    checkName('model', name);
    return this.serialized(async () => {
      const existing = await this.readModel(name);
      if (existing) return toModel(existing);
      const now = Date.now();
      const created: ModelFile = {
        name,
        description: options.description ?? null,
        createdAt: now,
        updatedAt: now,
        tags: { ...options.tags },
        aliases: {},
      };
      await this.writeJson(join(this.modelDir(name), 'model.json'), created);
      return toModel(created);
    });
  }

  async createVersion(
    name: string,
    runId: string,
    artifactPath: string,
    options: { readonly tags?: Readonly<Record<string, string>>; readonly description?: string } = {},
  ): Promise<ModelVersion> {
    checkArtifactPath(artifactPath);
    return this.serialized(async () => {
      const model = await this.readModel(name);
      if (!model) throw rejected(NOT_FOUND, `Registered Model with name=${name} not found`);
      const run = await this.readRun(runId);
      if (!run) throw rejected(NOT_FOUND, `Run with id=${runId} not found`);
      const numbers = (await this.list(join(this.modelDir(name), 'versions'))).map((f) => parseInt(f, 10) || 0);
      const now = Date.now();
      const created: VersionFile = {
        version: String(Math.max(0, ...numbers) + 1),
        status: 'READY',
        createdAt: now,
        updatedAt: now,
        runId,
        source: `${this.artifactUri(runId)}/${artifactPath}`,
        description: options.description ?? null,
        tags: { ...options.tags },
      };
      await this.writeJson(join(this.modelDir(name), 'versions', `${created.version}.json`), created);
      await this.writeJson(join(this.modelDir(name), 'model.json'), { ...model, updatedAt: now } satisfies ModelFile);
      return toVersion(model, created);
    });
  }

  /** A local directory has no UI. */
  runUrl(): null {
    return null;
  }

  // ---- helpers

  private modelDir(name: string): string {
    return join(this.root, 'models', encodeURIComponent(name).replace(/\./g, '%2E'));
  }

  private runDir(runId: string): string {
    return join(this.root, 'runs', runId);
  }

  private artifactUri(runId: string): string {
    return pathToFileURL(join(this.runDir(runId), 'artifacts')).href;
  }

  private toExperiment(e: ExperimentsFile['experiments'][number]): Experiment {
    return {
      id: e.id,
      name: e.name,
      artifactLocation: pathToFileURL(join(this.root, 'runs')).href,
      lifecycleStage: 'active',
      createdAt: new Date(e.createdAt),
    };
  }

  private toRunInfo(run: RunFile): RunInfo {
    return {
      runId: run.runId,
      experimentId: run.experimentId,
      name: run.name,
      status: run.status satisfies RunStatus,
      startTime: run.startTime === null ? null : new Date(run.startTime),
      endTime: run.endTime === null ? null : new Date(run.endTime),
      artifactUri: this.artifactUri(run.runId),
    };
  }

  private toRun(run: RunFile): Run {
    return {
      ...this.toRunInfo(run),
      params: run.params,
      metrics: Object.fromEntries(Object.entries(run.metrics).map(([k, m]) => [k, m.value])),
      tags: run.tags,
    };
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

  private readModel(name: string): Promise<ModelFile | null> {
    if (name.length === 0) return Promise.resolve(null);
    return this.readJson(join(this.modelDir(name), 'model.json'), modelFile);
  }

  private readModelDir(dir: string): Promise<ModelFile | null> {
    return this.readJson(join(this.root, 'models', dir, 'model.json'), modelFile);
  }

  private readVersion(name: string, version: string): Promise<VersionFile | null> {
    return this.readJson(join(this.modelDir(name), 'versions', `${version}.json`), versionFile);
  }

  private readRun(runId: string): Promise<RunFile | null> {
    if (!RUN_ID.test(runId)) return Promise.resolve(null);
    return this.readJson(join(this.runDir(runId), 'run.json'), runFile);
  }

  private writeRun(run: RunFile): Promise<void> {
    const metrics = Object.fromEntries(
      Object.entries(run.metrics).map(([k, m]) => [k, { ...m, value: encodeDouble(m.value) }]),
    );
    return this.writeJson(join(this.runDir(run.runId), 'run.json'), { ...run, metrics });
  }

  private updateRun(runId: string, change: (run: RunFile) => RunFile): Promise<void> {
    return this.serialized(async () => {
      const run = await this.readRun(runId);
      if (!run) throw rejected(NOT_FOUND, `Run with id=${runId} not found`);
      await this.writeRun(change(run));
    });
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const previous = queues.get(this.root) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    queues.set(this.root, settled);
    void settled.then(() => {
      if (queues.get(this.root) === settled) queues.delete(this.root);
    });
    return next;
  }

  private async list(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).filter((f) => !f.endsWith('.tmp'));
    } catch (error) {
      if (isMissing(error)) return [];
      throw unavailable(error);
    }
  }

  private async readJson<T>(file: string, schema: z.ZodType<T>): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (isMissing(error)) return null;
      throw unavailable(error);
    }
    let parsed: ReturnType<typeof schema.safeParse>;
    try {
      parsed = schema.safeParse(JSON.parse(text));
    } catch {
      throw rejected('INVALID_RESPONSE', `${file} is not JSON`);
    }
    if (!parsed.success) throw rejected('INVALID_RESPONSE', `${file}: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  }

  private writeJson(file: string, value: unknown): Promise<void> {
    return this.writeBytes(file, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));
  }

  /** Write to a temporary file, sync, rename over the target. */
  private async writeBytes(file: string, bytes: Uint8Array): Promise<void> {
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(file), { recursive: true });
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw unavailable(error);
    }
  }
}

function toModel(model: ModelFile): RegisteredModel {
  return {
    name: model.name,
    description: model.description,
    createdAt: new Date(model.createdAt),
    updatedAt: new Date(model.updatedAt),
    tags: model.tags,
    aliases: Object.entries(model.aliases)
      .map(([alias, version]) => ({ alias, version }))
      .toSorted((a, b) => a.alias.localeCompare(b.alias)),
  };
}

function toVersion(model: ModelFile, v: VersionFile): ModelVersion {
  return {
    modelName: model.name,
    version: v.version,
    status: v.status,
    createdAt: new Date(v.createdAt),
    updatedAt: new Date(v.updatedAt),
    runId: v.runId,
    source: v.source,
    description: v.description,
    tags: v.tags,
    aliases: Object.entries(model.aliases)
      .filter(([, version]) => version === v.version)
      .map(([alias]) => alias)
      .toSorted(),
  };
}

const isMissing = (error: unknown): boolean =>
  (error as { code?: unknown } | null)?.code === 'ENOENT' || (error as { code?: unknown } | null)?.code === 'ENOTDIR';

function unavailable(error: unknown): RegistryError {
  if (error instanceof RegistryError) return error;
  return new RegistryError(
    'UPSTREAM_UNAVAILABLE',
    `local registry: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}
