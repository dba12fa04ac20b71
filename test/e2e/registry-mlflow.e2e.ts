/**
 * The model registry contract (registry/contract.ts) against the real MLflow tracking server
 * that `scripts/services up mlflow` runs (sqlite backend, --serve-artifacts), plus what is
 * MLflow's own: artifact roots through the artifact proxy and links into its UI.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeRegistryContract, uniqueName } from '../../registry/contract.ts';
import { MlflowRegistry } from '../../registry/mlflow.ts';

function trackingUri(): string {
  const uri = process.env['MLFLOW_TRACKING_URI'];
  if (!uri) {
    throw new Error(
      'this test needs the real MLflow server: run `scripts/services up mlflow` and `eval "$(scripts/services env)"` ' +
        'first (or run it through scripts/with-services)',
    );
  }
  return uri;
}

describeRegistryContract('MLflow', async () => ({ registry: new MlflowRegistry({ trackingUri: trackingUri() }) }));

describe('MLflow registry specifics', () => {
  it('stores run artifacts under mlflow-artifacts:/<experiment>/<run>/artifacts, served by the artifact proxy', async () => {
    const base = trackingUri().replace(/\/+$/, '');
    const registry = new MlflowRegistry({ trackingUri: base });
    const experiment = await registry.ensureExperiment(uniqueName('proxy'));
    assert.equal(experiment.artifactLocation, `mlflow-artifacts:/${experiment.id}`);
    const run = await registry.createRun(experiment.id);
    assert.equal(run.artifactUri, `mlflow-artifacts:/${experiment.id}/${run.runId}/artifacts`);

    await registry.uploadArtifact(run.runId, 'model/weights.bin', new Uint8Array([4, 5, 6]));
    const direct = await fetch(
      `${base}/api/2.0/mlflow-artifacts/artifacts/${experiment.id}/${run.runId}/artifacts/model/weights.bin`,
    );
    assert.equal(direct.status, 200);
    assert.deepEqual(new Uint8Array(await direct.arrayBuffer()), new Uint8Array([4, 5, 6]));
    const listed = await fetch(`${base}/api/2.0/mlflow/artifacts/list?run_id=${run.runId}&path=model`);
    assert.deepEqual(((await listed.json()) as { files: unknown[] }).files, [
      { path: 'model/weights.bin', is_dir: false, file_size: 3 },
    ]);
  });

  it('links runs into the MLflow UI and takes another UI base when given', async () => {
    const base = trackingUri().replace(/\/+$/, '');
    const registry = new MlflowRegistry({ trackingUri: `${base}/` });
    assert.equal(registry.runUrl('abc', '7'), `${base}/#/experiments/7/runs/abc`);
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const proxied = new MlflowRegistry({ trackingUri: base, uiUrl: 'https://mlflow.example.com/' });
    assert.equal(proxied.runUrl('abc', '7'), 'https://mlflow.example.com/#/experiments/7/runs/abc');
  });

  it("passes MLflow's error code and message through", async () => {
    const registry = new MlflowRegistry({ trackingUri: trackingUri() });
    const missing = uniqueName('missing');
    await assert.rejects(registry.setAlias(missing, 'champion', '1'), (error: unknown) => {
      assert.ok(error instanceof Error && 'registryCode' in error);
      assert.equal(error.registryCode, 'RESOURCE_DOES_NOT_EXIST');
      assert.match(error.message, /HTTP 404/);
      assert.match(error.message, new RegExp(`name=${missing}`));
      return true;
    });
  });
});
