/**
 * The models subgraph over HTTP against the real MLflow server: every field against what a
 * training run logged, `_entities` as the gateway sends it (with the registry calls it costs),
 * setModelAlias with and without the admin scope, and a registry that cannot be reached.
 */
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { signHttpRequest } from '../../lib/internal-signature.ts';
import { uniqueName } from '../../registry/contract.ts';
import { MlflowRegistry } from '../../registry/mlflow.ts';
import type { ModelRegistry, RunInfo } from '../../registry/registry.ts';
import { modelsSubgraph } from '../../subgraphs/models/index.ts';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { freePort } from '../support/ports.ts';
import { testLogger } from '../support/services.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { dataOf, errorCodesOf, postGraphql, type GraphQLResponse } from '../support/graphql.ts';

function trackingUri(): string {
  const uri = process.env['MLFLOW_TRACKING_URI'];
  if (!uri) {
    throw new Error(
      'this test needs the real MLflow server: run `scripts/services up mlflow` and `eval "$(scripts/services env)"` ' +
        'first (or run it through scripts/with-services)',
    );
  }
  return uri.replace(/\/+$/, '');
}

/** What the subgraphs here share with the "gateway" (this test), which signs the scopes it forwards. */
const INTERNAL_SECRET = randomBytes(32).toString('hex');

/** POSTs to a subgraph, with `scopes` signed as the gateway signs them (unsigned when absent). */
function graphql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  scopes?: string,
): Promise<GraphQLResponse<T>> {
  const claims = { principal: 'test', scopes: scopes?.split(',') ?? [], requestId: 'test' };
  const sign = (body: string) =>
    signHttpRequest(INTERNAL_SECRET, { method: 'POST', path: new URL(url).pathname, body }, claims);
  return postGraphql<T>(url, query, variables, scopes === undefined ? {} : { headers: sign });
}

/** The data of a response that must have no errors. */
const data = async <T>(url: string, query: string, variables: Record<string, unknown> = {}, scopes?: string) =>
  dataOf(await graphql<T>(url, query, variables, scopes));

/** The error codes of a response that must fail. */
const errorCodes = async (url: string, query: string, variables: Record<string, unknown> = {}, scopes?: string) =>
  errorCodesOf(await graphql(url, query, variables, scopes));

/** The registry, with a count of the asynchronous calls the subgraph makes on it (not those within the registry). */
function counting(inner: ModelRegistry): { registry: ModelRegistry; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const registry = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = Reflect.apply(value, target, args);
        // count what goes to the registry (promises), not local helpers such as runUrl
        if (result instanceof Promise) calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
        return result;
      };
    },
  });
  return { registry, calls };
}

const VERSION_FIELDS = `
  modelName version status createdAt runId runUrl aliases
  params { key value }
  metrics { mae rmse baselineMae directionalAccuracy intervalCoverage all { key value } }
`;

interface VersionView {
  modelName: string;
  version: string;
  status: string;
  createdAt: string;
  runId: string | null;
  runUrl: string | null;
  aliases: string[];
  params: { key: string; value: string }[];
  metrics: {
    mae: number | null;
    rmse: number | null;
    baselineMae: number | null;
    directionalAccuracy: number | null;
    intervalCoverage: number | null;
    all: { key: string; value: number }[];
  };
}

describe('models subgraph on MLflow', () => {
  const base = trackingUri();
  const mlflow = new MlflowRegistry({ trackingUri: base });
  const { registry, calls } = counting(mlflow);
  const model = uniqueName('btc-usd-5m');
  const empty = uniqueName('eth-usd-1h');
  const missing = uniqueName('missing');
  const pool = new pg.Pool(); // server.ts hands it to createLoaders; the models subgraph never uses it
  const running: RunningSubgraph[] = [];
  let url: string;
  let experimentId: string;
  let runA: RunInfo;
  let runB: RunInfo;
  const created: Record<string, Date> = {};

  before(async () => {
    experimentId = (await mlflow.ensureExperiment(uniqueName('trainer'))).id;
    runA = await mlflow.createRun(experimentId, { name: 'a', params: { lookback: 60, horizon: '5m' } });
    await mlflow.logMetrics(runA.runId, {
      mae: 12.5,
      rmse: 20.25,
      baseline_mae: 15.75,
      directional_accuracy: 0.5625,
      interval_coverage: 0.875,
      train_loss: 0.0125,
      broken: Number.NaN,
    });
    await mlflow.finishRun(runA.runId);
    runB = await mlflow.createRun(experimentId, { name: 'b', params: { lookback: 120 } });
    await mlflow.logMetrics(runB.runId, { mae: 11.25 });
    await mlflow.finishRun(runB.runId);

    await mlflow.createRegisteredModel(model, { description: 'BTC/USD, 5 minutes ahead' });
    for (const run of [runA, runB, runA]) {
      const version = await mlflow.createVersion(model, run.runId, 'model');
      created[version.version] = version.createdAt;
    }
    await mlflow.setAlias(model, 'champion', '2');
    await mlflow.setAlias(model, 'challenger', '1');
    await mlflow.createRegisteredModel(empty);

    const subgraph = await startSubgraph(modelsSubgraph(registry, { logger: testLogger }), {
      bus: new MemoryBus(),
      pool,
      logger: testLogger,
      port: 0,
      host: '127.0.0.1',
      internalSecrets: [INTERNAL_SECRET],
    });
    running.push(subgraph);
    url = subgraph.url;
  });

  after(async () => {
    for (const subgraph of running) await subgraph.stop();
    await pool.end();
  });

  it('serves a model with its description, aliases, champion and every version as logged', async () => {
    const { model: found } = await data<{
      model: {
        name: string;
        description: string | null;
        aliases: { alias: string; version: string }[];
        champion: VersionView | null;
        versions: VersionView[];
      };
    }>(
      url,
      `query ($name: ID!) { model(name: $name) {
        name description aliases { alias version }
        champion { ${VERSION_FIELDS} }
        versions { ${VERSION_FIELDS} }
      } }`,
      { name: model },
    );
    assert.equal(found.name, model);
    assert.equal(found.description, 'BTC/USD, 5 minutes ahead');
    assert.deepEqual(found.aliases, [
      { alias: 'challenger', version: '1' },
      { alias: 'champion', version: '2' },
    ]);
    assert.deepEqual(
      found.versions.map((v) => [v.version, v.runId, v.aliases]),
      [
        ['3', runA.runId, []],
        ['2', runB.runId, ['champion']],
        ['1', runA.runId, ['challenger']],
      ],
    );
    const v1 = found.versions[2];
    assert.deepEqual(v1, {
      modelName: model,
      version: '1',
      status: 'READY',
      createdAt: created['1']?.toISOString(),
      runId: runA.runId,
      runUrl: `${base}/#/experiments/${experimentId}/runs/${runA.runId}`,
      aliases: ['challenger'],
      params: [
        { key: 'horizon', value: '5m' },
        { key: 'lookback', value: '60' },
      ],
      metrics: {
        mae: 12.5,
        rmse: 20.25,
        baselineMae: 15.75,
        directionalAccuracy: 0.5625,
        intervalCoverage: 0.875,
        all: [
          // `broken` is NaN: left out
          { key: 'baseline_mae', value: 15.75 },
          { key: 'directional_accuracy', value: 0.5625 },
          { key: 'interval_coverage', value: 0.875 },
          { key: 'mae', value: 12.5 },
          { key: 'rmse', value: 20.25 },
          { key: 'train_loss', value: 0.0125 },
        ],
      },
    });
    assert.ok(Math.abs(Date.parse(v1.createdAt) - Date.now()) < 10 * 60_000);
    assert.deepEqual(found.champion, found.versions[1]);
    assert.deepEqual(found.champion?.metrics, {
      mae: 11.25,
      rmse: null,
      baselineMae: null,
      directionalAccuracy: null,
      intervalCoverage: null,
      all: [{ key: 'mae', value: 11.25 }],
    });
    assert.deepEqual(found.champion?.params, [{ key: 'lookback', value: '120' }]);
  });

  it('lists models, and answers null for unknown models and versions', async () => {
    const result = await data<{
      models: { name: string }[];
      empty: { versions: unknown[]; aliases: unknown[]; champion: unknown; description: string | null };
      unknownModel: unknown;
      v2: { version: string; runId: string };
      v99: unknown;
      vText: unknown;
      unknownVersion: unknown;
    }>(
      url,
      `query ($modelId: ID!, $empty: ID!, $missing: ID!) {
        models { name }
        empty: model(name: $empty) { versions { version } aliases { alias } champion { version } description }
        unknownModel: model(name: $missing) { name }
        v2: modelVersion(modelName: $modelId, version: "2") { version runId }
        v99: modelVersion(modelName: $modelId, version: "99") { version }
        vText: modelVersion(modelName: $modelId, version: "two") { version }
        unknownVersion: modelVersion(modelName: $missing, version: "1") { version }
      }`,
      { modelId: model, empty, missing },
    );
    const names = result.models.map((m) => m.name);
    assert.ok(names.includes(model) && names.includes(empty), `${model} and ${empty} in ${names.length} models`);
    assert.deepEqual(
      names,
      names.toSorted((a, b) => a.localeCompare(b)),
    );
    assert.deepEqual(result.empty, { versions: [], aliases: [], champion: null, description: null });
    assert.equal(result.unknownModel, null);
    assert.deepEqual(result.v2, { version: '2', runId: runB.runId });
    assert.equal(result.v99, null);
    assert.equal(result.vText, null);
    assert.equal(result.unknownVersion, null);
  });

  it('resolves ModelVersion and Model representations as the gateway sends them, one registry lookup per model', async () => {
    calls.clear();
    const representations = [
      { __typename: 'ModelVersion', modelName: model, version: '1' },
      { __typename: 'ModelVersion', modelName: model, version: '2' },
      { __typename: 'ModelVersion', modelName: model, version: '3' },
      { __typename: 'ModelVersion', modelName: model, version: '1' },
      { __typename: 'ModelVersion', modelName: model, version: '99' },
      { __typename: 'ModelVersion', modelName: missing, version: '1' },
      { __typename: 'Model', name: model },
      { __typename: 'Model', name: missing },
    ];
    const { _entities: entities } = await data<{ _entities: unknown[] }>(
      url,
      `query ($representations: [_Any!]!) { _entities(representations: $representations) {
        ... on ModelVersion { modelName version status aliases runUrl params { key value } metrics { mae rmse } }
        ... on Model { name description champion { version } }
      } }`,
      { representations },
    );
    const v = (
      version: string,
      runId: string,
      aliases: string[],
      params: [string, string][],
      mae: number,
      rmse: number | null,
    ) => ({
      modelName: model,
      version,
      status: 'READY',
      aliases,
      runUrl: `${base}/#/experiments/${experimentId}/runs/${runId}`,
      params: params.map(([key, value]) => ({ key, value })),
      metrics: { mae, rmse },
    });
    const paramsA: [string, string][] = [
      ['horizon', '5m'],
      ['lookback', '60'],
    ];
    assert.deepEqual(entities, [
      v('1', runA.runId, ['challenger'], paramsA, 12.5, 20.25),
      v('2', runB.runId, ['champion'], [['lookback', '120']], 11.25, null),
      v('3', runA.runId, [], paramsA, 12.5, 20.25),
      v('1', runA.runId, ['challenger'], paramsA, 12.5, 20.25),
      null,
      null,
      { name: model, description: 'BTC/USD, 5 minutes ahead', champion: { version: '2' } },
      null,
    ]);
    // Two models (one unknown): one listVersions each; two distinct runs: one getRun each;
    // the Model representations: one getModel each.
    assert.deepEqual(Object.fromEntries(calls), { listVersions: 2, getRun: 2, getModel: 2 });
  });

  it('sets a model alias for the admin scope only, refusing unknown versions and bad alias names', async () => {
    const mutation = `mutation ($model: ID!, $alias: String!, $version: String!) {
      setModelAlias(modelName: $model, alias: $alias, version: $version) { modelName version aliases }
    }`;
    assert.deepEqual(await errorCodes(url, mutation, { model, alias: 'champion', version: '3' }), ['FORBIDDEN']);
    assert.deepEqual(await errorCodes(url, mutation, { model, alias: 'champion', version: '3' }, 'read'), [
      'FORBIDDEN',
    ]);
    assert.equal((await mlflow.getVersionByAlias(model, 'champion'))?.version, '2', 'unchanged without admin');

    const { setModelAlias } = await data<{ setModelAlias: unknown }>(
      url,
      mutation,
      { model, alias: 'champion', version: '3' },
      'read,admin',
    );
    assert.deepEqual(setModelAlias, { modelName: model, version: '3', aliases: ['champion'] });
    assert.equal((await mlflow.getVersionByAlias(model, 'champion'))?.version, '3');
    const { model: after } = await data<{ model: { champion: { version: string }; aliases: unknown[] } }>(
      url,
      `query ($name: ID!) { model(name: $name) { champion { version } aliases { alias version } } }`,
      { name: model },
    );
    assert.deepEqual(after, {
      champion: { version: '3' },
      aliases: [
        { alias: 'challenger', version: '1' },
        { alias: 'champion', version: '3' },
      ],
    });

    assert.deepEqual(await errorCodes(url, mutation, { model, alias: 'champion', version: '99' }, 'admin'), [
      'NOT_FOUND',
    ]);
    assert.deepEqual(await errorCodes(url, mutation, { model: missing, alias: 'champion', version: '1' }, 'admin'), [
      'NOT_FOUND',
    ]);
    for (const [alias, version] of [
      ['Bad Alias!', '1'],
      ['latest', '1'],
      ['v1', '1'],
      ['champion', 'one'],
    ] as const) {
      assert.deepEqual(await errorCodes(url, mutation, { model, alias, version }, 'admin'), ['BAD_USER_INPUT']);
    }
    assert.equal((await mlflow.getVersionByAlias(model, 'champion'))?.version, '3');
  });

  it('reports a registry that cannot be reached as UPSTREAM_UNAVAILABLE', async () => {
    const closed = await freePort();
    const offline = await startSubgraph(
      // the outage warnings are expected here
      modelsSubgraph(new MlflowRegistry({ trackingUri: `http://127.0.0.1:${closed}`, timeoutMs: 2_000 }), {
        logger: testLogger.child({}, { level: 'error' }),
      }),
      {
        pool,
        bus: new MemoryBus(),
        logger: testLogger,
        port: 0,
        host: '127.0.0.1',
        internalSecrets: [INTERNAL_SECRET],
      },
    );
    running.push(offline);
    assert.deepEqual(await errorCodes(offline.url, '{ models { name } }'), ['UPSTREAM_UNAVAILABLE']);
    assert.deepEqual(await errorCodes(offline.url, `{ modelVersion(modelName: "x", version: "1") { version } }`), [
      'UPSTREAM_UNAVAILABLE',
    ]);
    assert.deepEqual(
      await errorCodes(
        offline.url,
        `mutation { setModelAlias(modelName: "x", alias: "champion", version: "1") { version } }`,
        {},
        'admin',
      ),
      ['UPSTREAM_UNAVAILABLE'],
    );
  });
});
