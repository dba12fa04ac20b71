import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalRegistry } from '../registry/local.ts';
import { CHALLENGER_ALIAS, CHAMPION_ALIAS } from '../registry/model-names.ts';
import { BOOTSTRAP_TAG, bootstrapTraining } from './bootstrap.ts';
import { indicatorSeries } from './dataset.ts';
import { DAY_MS } from './splits.ts';
import { syntheticCandles } from './synthetic.ts';
import { trainAndRegister } from './train.ts';

// A planted, learnable signal (AR(1) one-minute returns): a full model beats persistence on it.
const signal = indicatorSeries(syntheticCandles({ count: 4 * 1440, seed: 11, phi: 0.5, volatility: 5e-4 }));
const last = signal[signal.length - 1]?.openTime ?? NaN;

describe('bootstrapTraining', () => {
  it("keeps the history's last day, with a sixth of it each for test and validation and a smaller search", () => {
    const { series, settings } = bootstrapTraining(signal);
    assert.equal(series.length, 1440);
    assert.equal(series[0]?.openTime, last - DAY_MS + 60_000);
    assert.equal(series[series.length - 1]?.openTime, last);
    // Indicators computed over the whole history: none of the day's first minutes is warming up.
    assert.notEqual(series[0]?.values['realized_vol_60'] ?? null, null);
    assert.ok(Math.abs((settings.testDays ?? 0) - 1439 / 1440 / 6) < 1e-12);
    assert.equal(settings.validationDays, settings.testDays);
    assert.deepEqual([settings.folds, settings.treeDepths, settings.treeMaxRounds], [2, [3], 50]);
  });

  it('takes all of a history shorter than a day (Kraken serves 720 minutes)', () => {
    const short = signal.slice(-720);
    const { series, settings } = bootstrapTraining(short);
    assert.equal(series.length, 720);
    assert.ok(Math.abs((settings.testDays ?? 0) - 719 / 1440 / 6) < 1e-12);
  });
});

describe('a bootstrap model in the registry', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('is challenger and marked even when it beats persistence, so the full model after it passes the normal gate alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tickcast-bootstrap-'));
    dirs.push(dir);
    const registry = new LocalRegistry(join(dir, 'registry'));
    const pair = 'BTC/USD';
    const quick = bootstrapTraining(signal);
    const boot = await trainAndRegister({
      registry,
      pair,
      horizonMinutes: 1,
      series: quick.series,
      settings: quick.settings,
      bootstrap: true,
    });
    assert.ok(boot.result.testVsBaseline.t <= -2, `the signal is learnable: t ${boot.result.testVsBaseline.t}`);
    assert.equal(boot.alias, CHALLENGER_ALIAS);
    assert.match(boot.reason, /^bootstrap model, challenger until the full model replaces it \(beats persistence/);
    const served = await registry.getVersionByAlias(boot.modelName, CHALLENGER_ALIAS);
    assert.equal(served?.tags[BOOTSTRAP_TAG], 'true');
    assert.equal(served?.params[BOOTSTRAP_TAG], 'true');

    const full = await trainAndRegister({
      registry,
      pair,
      horizonMinutes: 1,
      series: signal,
      settings: { testDays: 1, validationDays: 1, folds: 3, treeDepths: [2], treeMaxRounds: 40, treeMinLeaf: 50 },
    });
    assert.equal(full.alias, CHAMPION_ALIAS);
    assert.equal(full.championMae, null, 'the bootstrap model is no champion to beat');
    const champion = await registry.getVersionByAlias(full.modelName, CHAMPION_ALIAS);
    assert.equal(champion?.version, '2');
    assert.equal(champion?.tags[BOOTSTRAP_TAG], undefined);
    assert.equal(champion?.params[BOOTSTRAP_TAG], undefined);
  });
});
