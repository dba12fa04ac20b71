import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DependencyHealth } from '../lib/dependencies.ts';
import { Lifecycle } from './lifecycle.ts';

const silent = pino({ level: 'silent' });

describe('lifecycle', () => {
  it('a failed part stops every part, then exits 1: never left running half-stopped', async () => {
    const exits: number[] = [];
    const stopped: string[] = [];
    const lifecycle = new Lifecycle(silent, { exit: (code) => exits.push(code), health: new DependencyHealth() });
    lifecycle.add('bus', async () => void stopped.push('bus'));
    lifecycle.add('ops server', async () => void stopped.push('ops server'));
    await lifecycle.runUntilSignal(Promise.reject(new Error('KafkaJSNonRetriableError')));
    assert.deepEqual(stopped, ['ops server', 'bus']);
    assert.deepEqual(exits, [1]);
    process.exitCode = 0;
  });

  it('a dependency down beyond its bound stops the service and exits 1', async () => {
    const exits: number[] = [];
    let now = 0;
    const health = new DependencyHealth(() => now);
    const lifecycle = new Lifecycle(silent, { exit: (code) => exits.push(code), health });
    const stop = health.watch('kafka', () => Promise.reject(new Error('connect ECONNREFUSED')), {
      intervalMs: 5,
      maxOutageMs: 100,
    });
    setTimeout(() => (now = 1_000), 20);
    // The checks' timer does not hold the event loop (a process's other work does); this stands in for it.
    const work = setInterval(() => undefined, 10);
    await lifecycle.runUntilSignal(new Promise(() => undefined));
    clearInterval(work);
    stop();
    assert.deepEqual(exits, [1]);
    process.exitCode = 0;
  });

  it('a stop that hangs is cut off after shutdownTimeoutMs, non-zero', async () => {
    const exits: number[] = [];
    const lifecycle = new Lifecycle(silent, {
      exit: (code) => exits.push(code),
      health: new DependencyHealth(),
      shutdownTimeoutMs: 50,
    });
    // A disconnect waiting on a dead broker; the interval keeps the loop alive like kafkajs' retries do.
    const retries = setInterval(() => undefined, 10);
    lifecycle.add('bus', () => new Promise(() => undefined));
    void lifecycle.runUntilSignal(Promise.reject(new Error('broker gone')));
    await new Promise((resolve) => setTimeout(resolve, 150));
    clearInterval(retries);
    assert.deepEqual(exits, [1]);
    process.exitCode = 0;
  });
});
