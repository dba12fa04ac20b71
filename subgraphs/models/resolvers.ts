/** Resolvers of the models subgraph (schema/graphql/models.graphql), on the model registry. */
import { isRegistryCode, NOT_FOUND as REGISTRY_NOT_FOUND, type Run } from '../../registry/registry.ts';
import type { SubgraphContext } from '../context.ts';
import { badUserInput, DateTime, forbidden, notFound } from '../inputs.ts';
import type { Metric, Model, ModelMetrics, ModelVersion, Param, Resolvers } from './generated/resolvers.ts';
import { loaders, type ModelsLoaders, type VersionKey } from './loaders.ts';

/**
 * The metric keys the trainer logs on a version's training run (holdout set), and the
 * ModelMetrics field each one fills. This is the contract between trainer and API:
 *
 *   mae                    mean absolute error of the predicted price
 *   rmse                   root mean squared error
 *   baseline_mae           MAE of the naive baseline the model is compared with (e.g. last price carried forward)
 *   directional_accuracy   share of horizons whose direction (up/down) was predicted right, 0..1
 *   interval_coverage      share of actual prices inside the predicted interval, 0..1
 *
 * `all` lists every metric of the run (these and any other), sorted by key. A metric the
 * run did not log is null; NaN values are left out (GraphQL floats cannot carry them).
 */
export const METRIC_KEYS = {
  mae: 'mae',
  rmse: 'rmse',
  baselineMae: 'baseline_mae',
  directionalAccuracy: 'directional_accuracy',
  intervalCoverage: 'interval_coverage',
} as const satisfies Record<Exclude<keyof ModelMetrics, '__typename' | 'all'>, string>;

/** The alias Model.champion follows. */
export const CHAMPION = 'champion';

/**
 * Entities as parents carry their key only; every other field has its own resolver reading
 * the request's loaders. codegen.ts maps no model type to Model / ModelVersion, so the
 * generated return type is the whole object type; these are the one place that narrows it.
 */
const model = (name: string): Model => ({ name }) as Model;
const modelVersion = (key: VersionKey): ModelVersion =>
  ({ modelName: key.modelName, version: key.version }) as ModelVersion;

/** The version behind a parent; it existed when the parent was made, so null means it was deleted since. */
async function versionOf(context: SubgraphContext, key: VersionKey) {
  const found = await loaders(context).version.load({ modelName: key.modelName, version: key.version });
  if (!found) throw notFound(`model ${key.modelName} has no version ${key.version}`);
  return found;
}

async function runOf(l: ModelsLoaders, key: VersionKey): Promise<Run | null> {
  const found = await l.version.load({ modelName: key.modelName, version: key.version });
  return found?.runId ? l.run.load(found.runId) : null;
}

const finite = (value: number | undefined): number | null =>
  value !== undefined && Number.isFinite(value) ? value : null;

function metrics(run: Run | null): ModelMetrics {
  const logged = run?.metrics ?? {};
  const all: Metric[] = Object.entries(logged)
    .filter(([, value]) => Number.isFinite(value))
    .map(([key, value]) => ({ key, value }))
    .toSorted((a, b) => a.key.localeCompare(b.key));
  return {
    mae: finite(logged[METRIC_KEYS.mae]),
    rmse: finite(logged[METRIC_KEYS.rmse]),
    baselineMae: finite(logged[METRIC_KEYS.baselineMae]),
    directionalAccuracy: finite(logged[METRIC_KEYS.directionalAccuracy]),
    intervalCoverage: finite(logged[METRIC_KEYS.intervalCoverage]),
    all,
  };
}

const params = (run: Run | null): Param[] =>
  Object.entries(run?.params ?? {})
    .map(([key, value]) => ({ key, value }))
    .toSorted((a, b) => a.key.localeCompare(b.key));

export const resolvers: Resolvers = {
  DateTime,
  Query: {
    models: async (_parent, _args, context) => (await loaders(context).models()).map((m) => model(m.name)),
    model: async (_parent, { name }, context) => ((await loaders(context).model.load(name)) ? model(name) : null),
    modelVersion: async (_parent, { modelName, version }, context) =>
      (await loaders(context).version.load({ modelName, version })) ? modelVersion({ modelName, version }) : null,
  },
  Mutation: {
    setModelAlias: async (_parent, { modelName, alias, version }, context) => {
      if (!context.scopes.includes('admin')) throw forbidden('setModelAlias needs the admin scope');
      const l = loaders(context);
      try {
        await l.registry.setAlias(modelName, alias, version);
      } catch (error) {
        if (isRegistryCode(error, REGISTRY_NOT_FOUND)) {
          const known = await l.model.load(modelName);
          throw notFound(known ? `model ${modelName} has no version ${version}` : `there is no model ${modelName}`);
        }
        if (isRegistryCode(error, 'INVALID_PARAMETER_VALUE')) throw badUserInput(error.message);
        throw l.translate(error);
      }
      context.logger.info({ modelName, alias, version }, 'model alias set');
      l.forget(modelName);
      return modelVersion({ modelName, version });
    },
  },
  Model: {
    // Representations from other subgraphs: an unknown model resolves to null, as in Query.model.
    __resolveReference: async (reference, context) =>
      (await loaders(context).model.load(reference.name)) ? reference : null,
    description: async (parent, _args, context) =>
      (await loaders(context).model.load(parent.name))?.description ?? null,
    versions: async (parent, _args, context) =>
      ((await loaders(context).versions.load(parent.name)) ?? []).map((v) => modelVersion(v)),
    aliases: async (parent, _args, context) =>
      ((await loaders(context).model.load(parent.name))?.aliases ?? []).map((a) => ({
        alias: a.alias,
        version: a.version,
      })),
    champion: async (parent, _args, context) => {
      const l = loaders(context);
      const champion = (await l.model.load(parent.name))?.aliases.find((a) => a.alias === CHAMPION);
      if (!champion) return null;
      const key = { modelName: parent.name, version: champion.version };
      return (await l.version.load(key)) ? modelVersion(key) : null;
    },
  },
  ModelVersion: {
    // An unknown model or version resolves to null, as in Query.modelVersion.
    __resolveReference: async (reference, context) =>
      (await loaders(context).version.load({ modelName: reference.modelName, version: reference.version }))
        ? reference
        : null,
    status: async (parent, _args, context) => (await versionOf(context, parent)).status,
    createdAt: async (parent, _args, context) => (await versionOf(context, parent)).createdAt.toISOString(),
    runId: async (parent, _args, context) => (await versionOf(context, parent)).runId,
    aliases: async (parent, _args, context) => [...(await versionOf(context, parent)).aliases],
    runUrl: async (parent, _args, context) => {
      const l = loaders(context);
      const run = await runOf(l, parent);
      return run ? l.registry.runUrl(run.runId, run.experimentId) : null;
    },
    params: async (parent, _args, context) => params(await runOf(loaders(context), parent)),
    metrics: async (parent, _args, context) => metrics(await runOf(loaders(context), parent)),
  },
};
