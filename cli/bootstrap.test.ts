import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import { LocalRegistry } from '../registry/local.ts';
import { CHALLENGER_ALIAS, CHAMPION_ALIAS, modelName } from '../registry/model-names.ts';
import { BOOTSTRAP_TAG } from '../training/bootstrap.ts';
import { trainInitialModels, type Trainer } from './bootstrap.ts';
import type { TrainResult } from './train-child.ts';

const logger = createLogger('silent');
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Records each `tickcast train` it is asked for and answers success once `release` is called. */
class FakeTrainer implements Trainer {
  readonly runs: string[][] = [];
  readonly finished: string[][] = [];
  private releases: (() => void)[] = [];
  isStopped = false;

  run(args: readonly string[]): Promise<TrainResult | null> {
    this.runs.push([...args]);
    return new Promise((resolve) =>
      this.releases.push(() => {
        this.finished.push([...args]);
        resolve({ code: 0, summary: 'trained' });
      }),
    );
  }

  /** Lets the oldest waiting run finish. */
  release(): void {
    this.releases.shift()?.();
  }

  async stop(): Promise<void> {
    this.isStopped = true;
  }
}

async function setUp(): Promise<{ dir: string; registry: LocalRegistry }> {
  const dir = await mkdtemp(join(tmpdir(), 'tickcast-initial-'));
  dirs.push(dir);
  return { dir, registry: new LocalRegistry(join(dir, 'registry')) };
}

const config = (dir: string): ReturnType<typeof loadConfig> =>
  loadConfig({ TICKCAST_DATA_DIR: dir, PREDICTION_HORIZONS: '1,5', PAIRS: 'BTC/USD' });

/** Waits until the trainer was asked for `count` runs (each run starts after the previous one settled). */
async function runsStarted(trainer: FakeTrainer, count: number): Promise<void> {
  for (let i = 0; i < 1_000 && trainer.runs.length < count; i++) await new Promise((r) => setImmediate(r));
  assert.equal(trainer.runs.length, count);
}

describe('trainInitialModels', () => {
  it('trains a bootstrap model for every horizon first, then each full one once the service runs; the first model is announced as soon as it exists', async () => {
    const { dir } = await setUp();
    const trainer = new FakeTrainer();
    const history = { kind: 'replay', pair: 'BTC/USD', file: '/data/btc.csv' } as const;
    let running = (): void => {};
    const fullTrainingAfter = new Promise<void>((resolve) => (running = resolve));
    const training = await trainInitialModels(config(dir), history, logger, { trainer, fullTrainingAfter });
    let first = false;
    void training.firstModel.then(() => (first = true));

    await runsStarted(trainer, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(first, false, 'no model yet');
    trainer.release();
    await runsStarted(trainer, 2);
    assert.equal(first, true, 'the first bootstrap model is announced before the rest train');
    trainer.release();
    for (let i = 0; i < 100; i++) await new Promise((r) => setImmediate(r));
    assert.equal(trainer.runs.length, 2, 'the full models wait for the service to run');
    running();
    await runsStarted(trainer, 3);
    trainer.release();
    await runsStarted(trainer, 4);
    trainer.release();
    await training.done;

    const base = (h: number): string[] => ['--pair', 'BTC/USD', '--horizon', String(h), '--data', '/data/btc.csv'];
    assert.deepEqual(trainer.runs, [[...base(1), '--bootstrap'], [...base(5), '--bootstrap'], base(1), base(5)]);
  });

  it('after a restart, a pair and horizon a bootstrap model serves gets its full model only; one a full model serves, nothing', async () => {
    const { dir, registry } = await setUp();
    const register = async (horizon: number, alias: string, tags: Record<string, string>): Promise<void> => {
      const name = modelName('BTC/USD', horizon);
      const experiment = await registry.ensureExperiment(name);
      const run = await registry.createRun(experiment.id);
      await registry.createRegisteredModel(name, {});
      const version = await registry.createVersion(name, run.runId, 'model', { tags });
      await registry.setAlias(name, alias, version.version);
    };
    await register(1, CHALLENGER_ALIAS, { [BOOTSTRAP_TAG]: 'true' });
    await register(5, CHAMPION_ALIAS, {});
    const trainer = new FakeTrainer();
    const history = { kind: 'replay', pair: 'BTC/USD', file: '/data/btc.csv' } as const;
    const training = await trainInitialModels(config(dir), history, logger, { trainer });
    await runsStarted(trainer, 1);
    trainer.release();
    await training.done;
    await training.firstModel;
    assert.deepEqual(trainer.runs, [['--pair', 'BTC/USD', '--horizon', '1', '--data', '/data/btc.csv']]);
  });
});
