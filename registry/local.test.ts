import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRegistryContract, uniqueName } from './contract.ts';
import { LocalRegistry, MlflowRegistry, openRegistry } from './index.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tickcast-registry-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describeRegistryContract('local directory', async () => ({ registry: new LocalRegistry(await tempDir()) }));

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

describe('local registry', () => {
  it('keeps everything in its directory: a second instance reads what the first wrote', async () => {
    const dir = await tempDir();
    const writer = new LocalRegistry(dir);
    const experiment = await writer.ensureExperiment('tickcast-btc-usd-5m');
    const run = await writer.createRun(experiment.id, { params: { lookback: 60 } });
    await writer.logMetrics(run.runId, { mae: 2.5 });
    await writer.uploadArtifact(run.runId, 'model/weights.bin', new Uint8Array([9, 8, 7]));
    await writer.createRegisteredModel('tickcast-btc-usd-5m');
    await writer.createVersion('tickcast-btc-usd-5m', run.runId, 'model');
    await writer.setAlias('tickcast-btc-usd-5m', 'champion', '1');

    const reader = new LocalRegistry(dir);
    assert.equal((await reader.ensureExperiment('tickcast-btc-usd-5m')).id, experiment.id);
    const champion = await reader.getVersionByAlias('tickcast-btc-usd-5m', 'champion');
    assert.equal(champion?.version, '1');
    assert.deepEqual(champion?.params, { lookback: '60' });
    assert.deepEqual(champion?.metrics, { mae: 2.5 });
    assert.deepEqual(await reader.downloadArtifact(run.runId, 'model/weights.bin'), new Uint8Array([9, 8, 7]));
    assert.equal(reader.runUrl(), null);

    const files = await filesUnder(dir);
    assert.deepEqual(
      files.filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary files left behind',
    );
    assert.ok(files.includes(join('runs', run.runId, 'artifacts', 'model', 'weights.bin')), files.join(', '));
  });

  it('keeps model names that are not file names apart', async () => {
    const registry = new LocalRegistry(await tempDir());
    const names = ['a/b', 'a%2Fb', '..', '.', 'ä b'];
    for (const name of names) await registry.createRegisteredModel(name, { description: name });
    const models = await registry.listModels();
    assert.deepEqual(
      models.map((m) => [m.name, m.description]),
      names.toSorted((a, b) => a.localeCompare(b)).map((n) => [n, n]),
    );
  });

  it('is what openRegistry picks without an MLflow tracking URI', async () => {
    const dir = await tempDir();
    const local = openRegistry({ dataDir: dir, mlflowTrackingUri: '' });
    assert.ok(local instanceof LocalRegistry);
    assert.equal(local.root, join(dir, 'registry'));
    const mlflow = openRegistry({ dataDir: dir, mlflowTrackingUri: 'http://127.0.0.1:5000' });
    assert.ok(mlflow instanceof MlflowRegistry);
    assert.equal(uniqueName('x').startsWith('tickcast-test-x-'), true);
  });
});
