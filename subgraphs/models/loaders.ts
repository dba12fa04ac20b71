/**
 * Per-request DataLoaders of the models subgraph, wrapping the model registry. They dedupe
 * within a request and batch what the registry can batch: every version looked up in one
 * tick of the event loop (e.g. all ModelVersion representations of one `_entities` request)
 * costs one `listVersions` per distinct model, and every run one `getRun` per distinct run.
 *
 * Registry failures become GraphQLErrors here: unreachable or failing registry ->
 * UPSTREAM_UNAVAILABLE (the caller may retry), anything else -> masked as an internal error.
 */
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';
import type { Logger } from '../../lib/logger.ts';
import type { ModelRegistry, ModelVersion, RegisteredModel, Run } from '../../registry/registry.ts';
import type { SubgraphContext } from '../context.ts';

export interface VersionKey {
  readonly modelName: string;
  readonly version: string;
}

const versionKey = (k: VersionKey): string => JSON.stringify([k.modelName, k.version]);

export class ModelsLoaders {
  readonly model: DataLoader<string, RegisteredModel | null>;
  /** A model's versions, newest first; null for an unknown model. */
  readonly versions: DataLoader<string, ModelVersion[] | null>;
  readonly version: DataLoader<VersionKey, ModelVersion | null, string>;
  readonly run: DataLoader<string, Run | null>;
  readonly registry: ModelRegistry;
  readonly #logger: Logger;

  constructor(registry: ModelRegistry, logger: Logger) {
    this.registry = registry;
    this.#logger = logger;
    this.model = new DataLoader((names) => this.each(names, (name) => registry.getModel(name)));
    this.versions = new DataLoader((names) => this.each(names, (name) => registry.listVersions(name)));
    this.run = new DataLoader((runIds) => this.each(runIds, (runId) => registry.getRun(runId)));
    // One listVersions per model, whatever the number of its versions asked for.
    this.version = new DataLoader(
      (keys) =>
        Promise.all(
          keys.map(async (key) => {
            try {
              return (await this.versions.load(key.modelName))?.find((v) => v.version === key.version) ?? null;
            } catch (error) {
              return error instanceof Error ? error : new Error(String(error));
            }
          }),
        ),
      { cacheKeyFn: versionKey },
    );
  }

  /** Every registered model; primes the model loader. */
  async models(): Promise<RegisteredModel[]> {
    const models = await this.registry.listModels().catch((error: unknown) => {
      throw this.translate(error);
    });
    for (const model of models) this.model.prime(model.name, model);
    return models;
  }

  /** Forgets what this request loaded about a model (after changing it). */
  forget(modelName: string): void {
    this.model.clear(modelName);
    this.versions.clear(modelName);
    this.version.clearAll();
  }

  translate(error: unknown): Error {
    if (error instanceof GraphQLError) return error;
    if (error instanceof Error && 'retriable' in error && error.retriable === true) {
      this.#logger.warn({ err: error }, 'model registry unavailable');
      return new GraphQLError('The model registry is unavailable; try again later', {
        extensions: { code: 'UPSTREAM_UNAVAILABLE' },
        originalError: error,
      });
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  private each<K, V>(keys: readonly K[], load: (key: K) => Promise<V>): Promise<(V | Error)[]> {
    return Promise.all(keys.map((key) => load(key).catch((error: unknown) => this.translate(error))));
  }
}

const KEY = 'models';

export function createLoaders(registry: ModelRegistry, logger: Logger): Record<string, unknown> {
  return { [KEY]: new ModelsLoaders(registry, logger) };
}

/** This request's loaders (see `createLoaders`). */
export function loaders(context: SubgraphContext): ModelsLoaders {
  const found = context.loaders[KEY];
  if (!(found instanceof ModelsLoaders)) throw new Error('models loaders missing from the request context');
  return found;
}
