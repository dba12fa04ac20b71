import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DependencyHealth } from '../lib/dependencies.ts';
import { Lifecycle, stopTogether } from './lifecycle.ts';

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

  it('a stop that hangs is cut off after shutdownTimeoutMs, non-zero, saying the status as a failed stop does', async () => {
    const exits: number[] = [];
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const lifecycle = new Lifecycle(logger, {
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
    const [cutOff, ...more] = lines.filter((line) => /exiting with status 1 so the supervisor restarts/.test(line));
    assert.deepEqual(more, []);
    assert.equal(
      (JSON.parse(cutOff ?? '{}') as { waitingOn?: string }).waitingOn,
      'bus',
      'names the part it waited on',
    );
    process.exitCode = 0;
  });

  it('parts stopped together: the ones still stopping after slowMs are named, the others not', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    let release = (): void => undefined;
    const stopping = stopTogether(
      [
        { name: 'candles', stop: async () => undefined },
        { name: 'predictor', stop: () => new Promise<void>((resolve) => (release = resolve)) },
      ],
      logger,
      30,
    );
    await new Promise((resolve) => setTimeout(resolve, 80));
    release();
    await stopping;
    const slow = lines.map((line) => JSON.parse(line) as { msg: string; parts?: string[] });
    assert.deepEqual(
      slow.filter((line) => line.msg === 'still stopping').map((line) => line.parts),
      [['predictor']],
    );
  });
});
