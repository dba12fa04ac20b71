/**
 * The champions follower against a registry that goes away: the local registry behind a
 * switch that answers as MLflow does when it cannot be reached (RegistryError
 * UPSTREAM_UNAVAILABLE). The same faults on a real MLflow server: test/e2e/registry-outage.e2e.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DependencyHealth, DependencyOutageError } from '../../lib/dependencies.ts';
import { createLogger } from '../../lib/logger.ts';
import { LocalRegistry } from '../../registry/local.ts';
import { RegistryError, type ModelRegistry } from '../../registry/registry.ts';
import { registerConstantChampion } from '../../test/support/champions.ts';
import { Champions } from './champions.ts';
import { modelName } from '../../registry/model-names.ts';

const logger = createLogger('silent');
const PAIR = 'BTC/USD';
const NAME = modelName(PAIR, 5);

/** `registry`, except that every call fails as an unreachable MLflow does while `down` is set. */
function switchable(registry: ModelRegistry): { registry: ModelRegistry; down: boolean } {
  const state = { down: false, registry: undefined as unknown as ModelRegistry };
  state.registry = new Proxy(registry, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (state.down) {
          return Promise.reject(
            new RegistryError(
              'UPSTREAM_UNAVAILABLE',
              'MLflow at http://127.0.0.1:5000 cannot be reached (ECONNREFUSED)',
            ),
          );
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return state;
}

const registerChampion = (registry: ModelRegistry, intercept: number): Promise<string> =>
  registerConstantChampion(registry, NAME, intercept);

const until = async (what: string, probe: () => boolean, ms = 5_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('Champions with MLflow unreachable', () => {
  let dir: string;
  let local: LocalRegistry;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'champions-'));
    local = new LocalRegistry(join(dir, 'registry'));
    await registerChampion(local, 0.001);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('at start: waits (mlflow reported down, no model served), then loads the champion once MLflow answers', async () => {
    const health = new DependencyHealth();
    const s = switchable(local);
    s.down = true;
    const champions = new Champions(s.registry, { pairs: [PAIR], horizons: [5], pollMs: 20, health }, logger);
    let started = false;
    const starting = champions.start().then(() => {
      started = true;
    });
    await until('mlflow reported down', () => health.isDown('mlflow'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(started, false, 'start() must not resolve before the registry answered');
    assert.equal(champions.get(PAIR, 5), undefined);
    assert.match(health.down()[0]?.reason ?? '', /ECONNREFUSED/);
    s.down = false;
    await starting;
    assert.equal(champions.get(PAIR, 5)?.version, '1');
    assert.equal(health.isDown('mlflow'), false);
    await champions.stop();
  });

  it('at start: gives up beyond maxOutageMs with a DependencyOutageError naming mlflow (the process exits 1)', async () => {
    const s = switchable(local);
    s.down = true;
    const champions = new Champions(
      s.registry,
      { pairs: [PAIR], horizons: [5], pollMs: 20, maxOutageMs: 100, health: new DependencyHealth() },
      logger,
    );
    await assert.rejects(champions.start(), (error: unknown) => {
      assert.ok(error instanceof DependencyOutageError);
      assert.equal(error.dependency, 'mlflow');
      return true;
    });
    await champions.stop();
  });

  it('during a hot swap: keeps serving the model it has, reports mlflow down, loads the new champion once back', async () => {
    const health = new DependencyHealth();
    const s = switchable(local);
    const champions = new Champions(s.registry, { pairs: [PAIR], horizons: [5], pollMs: 20, health }, logger);
    await champions.start();
    const serving = champions.get(PAIR, 5)?.version;
    s.down = true;
    await until('mlflow reported down', () => health.isDown('mlflow'));
    // Registered behind the predictor's back (the switch is on its side): what a trainer does meanwhile.
    const next = await registerChampion(local, 0.002);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(champions.get(PAIR, 5)?.version, serving, 'the model in use keeps serving');
    s.down = false;
    await until('the new champion loaded', () => champions.get(PAIR, 5)?.version === next);
    assert.equal(health.isDown('mlflow'), false);
    await champions.stop();
  });
});
