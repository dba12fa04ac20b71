import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DependencyHealth, DependencyOutageError, readiness } from './dependencies.ts';
import { metricValue } from './metrics.ts';

function recorder(): { logger: pino.Logger; lines: { msg: string; dependency?: string }[] } {
  const lines: { msg: string; dependency?: string }[] = [];
  return { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }), lines };
}

describe('dependency health', () => {
  it('logs one line per change of state, not one per failed call, and sets the gauge', async () => {
    const health = new DependencyHealth();
    const { logger, lines } = recorder();
    health.useLogger(logger);
    health.report('kafka', true);
    for (let i = 0; i < 50; i++) health.report('kafka', false, 'connect ECONNREFUSED');
    assert.equal(await metricValue('tickcast_dependency_up', { dependency: 'kafka' }), 0);
    for (let i = 0; i < 50; i++) health.report('kafka', true);
    assert.equal(await metricValue('tickcast_dependency_up', { dependency: 'kafka' }), 1);
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['dependency down: kafka', 'dependency up again: kafka'],
    );
  });

  it('/ready: 503 naming each dependency that is down and why; ready again once it is back', () => {
    const health = new DependencyHealth();
    assert.deepEqual(readiness(true, health), { ok: true, body: '{"status":"ready"}' });
    health.report('postgres', false, 'connect ECONNREFUSED 127.0.0.1:5432');
    health.report('kafka', true);
    const down = readiness(true, health);
    assert.equal(down.ok, false);
    assert.deepEqual(JSON.parse(down.body), {
      status: 'not ready',
      reason: 'unavailable: postgres',
      down: [{ dependency: 'postgres', reason: 'connect ECONNREFUSED 127.0.0.1:5432' }],
    });
    health.report('postgres', true);
    assert.equal(readiness(true, health).ok, true);
    assert.deepEqual(JSON.parse(readiness(false, health).body), {
      status: 'not ready',
      reason: 'starting or stopping',
      down: [],
    });
  });

  it('counts a check that never settles as failed (a client stuck mid-connect must not keep it up)', async () => {
    const health = new DependencyHealth();
    let hang = false;
    const stop = health.watch('kafka', () => (hang ? new Promise<void>(() => undefined) : Promise.resolve()), {
      intervalMs: 5,
      checkTimeoutMs: 20,
    });
    await new Promise((resolve) => setTimeout(resolve, 15));
    assert.equal(health.isDown('kafka'), false);
    hang = true;
    await new Promise((resolve) => setTimeout(resolve, 60));
    stop();
    assert.equal(health.isDown('kafka'), true);
    assert.match(health.down()[0]?.reason ?? '', /no answer within 20 ms/);
  });

  it('fails the process once a watched dependency stays down beyond its bound, not before', async () => {
    let now = 0;
    const health = new DependencyHealth(() => now);
    let reachable = false;
    const stop = health.watch(
      'kafka',
      async () => {
        if (!reachable) throw new Error('connect ECONNREFUSED');
      },
      { intervalMs: 5, maxOutageMs: 1_000 },
    );
    const seen: { failure?: unknown } = {};
    health.outageExceeded.catch((error: unknown) => (seen.failure = error));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(health.isDown('kafka'), true);
    assert.equal(seen.failure, undefined, 'within the bound');
    reachable = true;
    now = 900;
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(health.isDown('kafka'), false, 'back within the bound: nothing fails');
    reachable = false;
    now = 1_000;
    await new Promise((resolve) => setTimeout(resolve, 30));
    now = 2_001;
    await new Promise((resolve) => setTimeout(resolve, 30));
    stop();
    const failure: unknown = seen.failure;
    assert.ok(failure instanceof DependencyOutageError, String(failure));
    assert.equal(failure.dependency, 'kafka');
    assert.match(failure.message, /kafka has been unreachable for 1 s \(connect ECONNREFUSED\)/);
  });

  it('with restartAfterOutage, fails the process once the dependency is back after an outage', async () => {
    const health = new DependencyHealth();
    let reachable = true;
    const stop = health.watch(
      'kafka',
      async () => {
        if (!reachable) throw new Error('connect ECONNREFUSED');
      },
      { intervalMs: 5, maxOutageMs: 60_000, restartAfterOutage: true },
    );
    const seen: { failure?: unknown } = {};
    health.outageExceeded.catch((error: unknown) => (seen.failure = error));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(seen.failure, undefined, 'up from the start: nothing to restart');
    reachable = false;
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(seen.failure, undefined, 'down within the bound: waiting');
    reachable = true;
    await new Promise((resolve) => setTimeout(resolve, 30));
    stop();
    const failure: unknown = seen.failure;
    assert.ok(failure instanceof DependencyOutageError, String(failure));
    assert.equal(failure.recovered, true);
    assert.match(failure.message, /kafka is reachable again after \d+ s down/);
  });
});
