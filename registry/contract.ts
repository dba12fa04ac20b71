/**
 * The behaviour every ModelRegistry implementation must have, as one node:test suite:
 * `registry/local.test.ts` runs it on a temporary directory, `test/e2e/registry-mlflow.e2e.ts`
 * on the real MLflow server. Every test uses fresh experiment and model names, so it runs on a
 * server that keeps everything from earlier runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { INVALID_PARAMETER, NOT_FOUND, RegistryError, type ModelRegistry } from './registry.ts';

export interface RegistryUnderTest {
  readonly registry: ModelRegistry;
  close?(): Promise<void>;
}

/** A name no earlier run used. */
export const uniqueName = (label: string): string =>
  `tickcast-test-${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/** assert.rejects predicate: a non-retriable UPSTREAM_REJECTED with this registry error code. */
export const rejectedWith =
  (registryCode: string, message?: RegExp) =>
  (error: unknown): boolean => {
    assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${String(error)}`);
    assert.equal(error.code, 'UPSTREAM_REJECTED', error.message);
    assert.equal(error.retriable, false);
    assert.equal(error.registryCode, registryCode, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };

export function describeRegistryContract(name: string, open: () => Promise<RegistryUnderTest>): void {
  describe(`model registry contract: ${name}`, () => {
    let subject: RegistryUnderTest;
    let registry: ModelRegistry;

    before(async () => {
      subject = await open();
      registry = subject.registry;
    });
    after(async () => {
      await subject?.close?.();
    });

    /** An experiment and a RUNNING run in it. */
    async function newRun(label: string, params: Record<string, string | number | boolean> = {}) {
      const experiment = await registry.ensureExperiment(uniqueName(label));
      const run = await registry.createRun(experiment.id, { name: `${label}-run`, params, tags: { purpose: label } });
      return { experiment, run };
    }

    it('creates an experiment once and finds it by name afterwards', async () => {
      const name = uniqueName('experiment');
      const first = await registry.ensureExperiment(name);
      const again = await registry.ensureExperiment(name);
      assert.equal(first.name, name);
      assert.equal(first.lifecycleStage, 'active');
      assert.equal(again.id, first.id);
      const other = await registry.ensureExperiment(uniqueName('experiment-other'));
      assert.notEqual(other.id, first.id);
    });

    it('records a run with params, tags, the latest value of each metric, and its end', async () => {
      const { experiment, run } = await newRun('run', { lr: 0.05, layers: 3, shuffle: true });
      assert.equal(run.experimentId, experiment.id);
      assert.equal(run.status, 'RUNNING');
      assert.equal(run.name, 'run-run');
      assert.ok(run.startTime instanceof Date && Math.abs(run.startTime.getTime() - Date.now()) < 60_000);
      assert.equal(run.endTime, null);

      await registry.logMetrics(run.runId, { mae: 3.5, rmse: 4.25 }, { step: 0 });
      await registry.logMetrics(run.runId, { mae: 1.125 }, { step: 2 });
      await registry.logMetrics(run.runId, { mae: 99 }, { step: 1 }); // an earlier step is not the latest
      await registry.logMetrics(run.runId, { not_a_number: Number.NaN, too_big: Number.POSITIVE_INFINITY });
      await registry.logParams(run.runId, { horizon: '5m' });
      await registry.logParams(run.runId, { lr: 0.05 }); // the same value again is fine

      const logged = await registry.getRun(run.runId);
      assert.ok(logged);
      assert.deepEqual(logged.params, { lr: '0.05', layers: '3', shuffle: 'true', horizon: '5m' });
      assert.equal(logged.metrics['mae'], 1.125);
      assert.equal(logged.metrics['rmse'], 4.25);
      assert.ok(Number.isNaN(logged.metrics['not_a_number']));
      // MLflow's SQL store keeps ±Infinity as ±Number.MAX_VALUE; the local registry does the same
      assert.equal(logged.metrics['too_big'], Number.MAX_VALUE);
      assert.equal(logged.tags['purpose'], 'run');
      assert.equal(logged.status, 'RUNNING');

      await registry.finishRun(run.runId);
      const finished = await registry.getRun(run.runId);
      assert.equal(finished?.status, 'FINISHED');
      assert.ok(finished?.endTime instanceof Date);
    });

    it('keeps params write-once and refuses runs in unknown experiments', async () => {
      const { run } = await newRun('params', { lr: 0.05 });
      await assert.rejects(registry.logParams(run.runId, { lr: 0.1 }), rejectedWith(INVALID_PARAMETER, /lr/));
      assert.equal((await registry.getRun(run.runId))?.params['lr'], '0.05');
      await assert.rejects(registry.createRun('987654321'), rejectedWith(NOT_FOUND));
      assert.equal(await registry.getRun('0123456789abcdef0123456789abcdef'), null);
    });

    it('loses no metric when many are logged concurrently', async () => {
      const { run } = await newRun('concurrent');
      const keys = Array.from({ length: 12 }, (_, i) => `m${i}`);
      await Promise.all(keys.map((key, i) => registry.logMetrics(run.runId, { [key]: i + 0.5 })));
      const logged = await registry.getRun(run.runId);
      assert.deepEqual(
        Object.fromEntries(keys.map((k) => [k, logged?.metrics[k]])),
        Object.fromEntries(keys.map((k, i) => [k, i + 0.5])),
      );
    });

    it('round-trips artifact bytes, overwrites them, and answers null for what is missing', async () => {
      const { run } = await newRun('artifacts');
      const weights = new Uint8Array(randomBytes(200_000));
      const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
      await registry.uploadArtifact(run.runId, 'model/weights.bin', weights);
      await registry.uploadArtifact(run.runId, 'model/all bytes+odd=name.bin', everyByte);
      await registry.uploadArtifact(run.runId, 'model/meta.json', new TextEncoder().encode('{"v":1}'));

      assert.deepEqual(await registry.downloadArtifact(run.runId, 'model/weights.bin'), weights);
      assert.deepEqual(await registry.downloadArtifact(run.runId, 'model/all bytes+odd=name.bin'), everyByte);

      await registry.uploadArtifact(run.runId, 'model/meta.json', new TextEncoder().encode('{"v":2}'));
      const meta = await registry.downloadArtifact(run.runId, 'model/meta.json');
      assert.equal(meta && new TextDecoder().decode(meta), '{"v":2}');

      assert.equal(await registry.downloadArtifact(run.runId, 'model/missing.bin'), null);
      assert.equal(await registry.downloadArtifact('0123456789abcdef0123456789abcdef', 'model/weights.bin'), null);
      for (const bad of ['../escape.bin', '/abs.bin', 'model//x', 'model/./x', '', 'a#b', 'a%2Fb', 'C:/x', 'a\\b']) {
        await assert.rejects(registry.uploadArtifact(run.runId, bad, everyByte), rejectedWith(INVALID_PARAMETER));
      }
      await assert.rejects(
        registry.uploadArtifact('0123456789abcdef0123456789abcdef', 'model/x.bin', everyByte),
        rejectedWith(NOT_FOUND),
      );
    });

    it('registers versions from a run, numbered 1, 2, … and readable with the run’s params and metrics', async () => {
      const { experiment, run } = await newRun('register', { lookback: 60 });
      await registry.logMetrics(run.runId, { mae: 12.5, rmse: 20.25, directional_accuracy: 0.55 });
      await registry.uploadArtifact(run.runId, 'model/weights.bin', new Uint8Array([1, 2, 3]));
      await registry.finishRun(run.runId);

      const name = uniqueName('model');
      const model = await registry.createRegisteredModel(name, {
        description: 'BTC/USD 5m',
        tags: { pair: 'BTC/USD' },
      });
      assert.equal(model.name, name);
      assert.equal(model.description, 'BTC/USD 5m');
      assert.deepEqual(model.tags, { pair: 'BTC/USD' });
      assert.deepEqual(model.aliases, []);
      const again = await registry.createRegisteredModel(name, { description: 'ignored' });
      assert.equal(again.description, 'BTC/USD 5m');
      assert.equal(again.createdAt.getTime(), model.createdAt.getTime());

      const v1 = await registry.createVersion(name, run.runId, 'model', { tags: { trainer: 'test' } });
      const v2 = await registry.createVersion(name, run.runId, 'model');
      assert.equal(v1.modelName, name);
      assert.equal(v1.version, '1');
      assert.equal(v2.version, '2');
      assert.equal(v1.runId, run.runId);
      assert.equal(v1.status, 'READY');
      assert.equal(v1.source, `${run.artifactUri}/model`);
      assert.deepEqual(v1.tags, { trainer: 'test' });
      assert.deepEqual(v1.aliases, []);

      const details = await registry.getVersion(name, '1');
      assert.ok(details);
      assert.equal(details.runId, run.runId);
      assert.equal(details.experimentId, experiment.id);
      assert.deepEqual(details.params, { lookback: '60' });
      assert.deepEqual(details.metrics, { mae: 12.5, rmse: 20.25, directional_accuracy: 0.55 });
      assert.ok(Math.abs(details.createdAt.getTime() - Date.now()) < 60_000);

      assert.deepEqual(
        (await registry.listVersions(name))?.map((v) => v.version),
        ['2', '1'],
      );
      assert.ok((await registry.listModels()).some((m) => m.name === name));
      // the registered source points at the run's files
      assert.deepEqual(await registry.downloadArtifact(run.runId, 'model/weights.bin'), new Uint8Array([1, 2, 3]));
    });

    it('answers null for unknown models and versions, and refuses versions of unknown models or runs', async () => {
      const { run } = await newRun('unknown');
      const name = uniqueName('model');
      await registry.createRegisteredModel(name);
      await registry.createVersion(name, run.runId, 'model');
      const missing = uniqueName('missing');
      assert.equal(await registry.getModel(missing), null);
      assert.equal(await registry.listVersions(missing), null);
      assert.equal(await registry.getVersion(missing, '1'), null);
      assert.equal(await registry.getVersion(name, '2'), null);
      assert.equal(await registry.getVersion(name, 'abc'), null);
      assert.equal(await registry.getVersion(name, '0'), null);
      assert.notEqual(await registry.getVersion(name, '1'), null);
      await assert.rejects(registry.createVersion(missing, run.runId, 'model'), rejectedWith(NOT_FOUND));
      await assert.rejects(
        registry.createVersion(name, '0123456789abcdef0123456789abcdef', 'model'),
        rejectedWith(NOT_FOUND),
      );
      assert.deepEqual(
        (await registry.listVersions(name))?.map((v) => v.version),
        ['1'],
      );
    });

    it('numbers concurrently registered versions distinctly', async () => {
      const { run } = await newRun('parallel-versions');
      const name = uniqueName('model');
      await registry.createRegisteredModel(name);
      const created = await Promise.all(Array.from({ length: 5 }, () => registry.createVersion(name, run.runId, 'm')));
      assert.deepEqual(created.map((v) => Number(v.version)).toSorted(), [1, 2, 3, 4, 5]);
    });

    it('sets, moves, reads and deletes aliases', async () => {
      const { run } = await newRun('aliases');
      await registry.logMetrics(run.runId, { mae: 7.5 });
      const name = uniqueName('model');
      await registry.createRegisteredModel(name);
      await registry.createVersion(name, run.runId, 'model');
      await registry.createVersion(name, run.runId, 'model');

      await registry.setAlias(name, 'champion', '1');
      const champion = await registry.getVersionByAlias(name, 'champion');
      assert.equal(champion?.version, '1');
      assert.deepEqual(champion?.aliases, ['champion']);
      assert.equal(champion?.metrics['mae'], 7.5);
      assert.deepEqual((await registry.getModel(name))?.aliases, [{ alias: 'champion', version: '1' }]);

      await registry.setAlias(name, 'champion', '2'); // move
      await registry.setAlias(name, 'challenger', '1');
      assert.equal((await registry.getVersionByAlias(name, 'champion'))?.version, '2');
      assert.deepEqual((await registry.getModel(name))?.aliases, [
        { alias: 'challenger', version: '1' },
        { alias: 'champion', version: '2' },
      ]);
      assert.deepEqual((await registry.getVersion(name, '1'))?.aliases, ['challenger']);
      assert.deepEqual((await registry.getVersion(name, '2'))?.aliases, ['champion']);
      assert.deepEqual(
        (await registry.listVersions(name))?.map((v) => [v.version, v.aliases]),
        [
          ['2', ['champion']],
          ['1', ['challenger']],
        ],
      );

      await registry.deleteAlias(name, 'champion');
      assert.equal(await registry.getVersionByAlias(name, 'champion'), null);
      assert.deepEqual((await registry.getModel(name))?.aliases, [{ alias: 'challenger', version: '1' }]);
      await registry.deleteAlias(name, 'champion'); // already gone: no-op
      assert.equal(await registry.getVersionByAlias(name, 'never-set'), null);
      assert.equal(await registry.getVersionByAlias(uniqueName('missing'), 'champion'), null);
    });

    it('refuses aliases to unknown models or versions and invalid or reserved alias names', async () => {
      const { run } = await newRun('alias-errors');
      const name = uniqueName('model');
      await registry.createRegisteredModel(name);
      await registry.createVersion(name, run.runId, 'model');
      const missing = uniqueName('missing');
      await assert.rejects(registry.setAlias(name, 'champion', '2'), rejectedWith(NOT_FOUND));
      await assert.rejects(registry.setAlias(missing, 'champion', '1'), rejectedWith(NOT_FOUND));
      await assert.rejects(registry.deleteAlias(missing, 'champion'), rejectedWith(NOT_FOUND));
      for (const alias of ['Bad Alias!', 'latest', 'v2', '']) {
        await assert.rejects(registry.setAlias(name, alias, '1'), rejectedWith(INVALID_PARAMETER));
      }
      await assert.rejects(registry.setAlias(name, 'champion', 'one'), rejectedWith(INVALID_PARAMETER));
      assert.deepEqual((await registry.getModel(name))?.aliases, []);
    });
  });
}
