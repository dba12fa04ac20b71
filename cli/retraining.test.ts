import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger } from '../lib/logger.ts';
import { Retraining } from './retraining.ts';
import type { TrainResult } from './train-child.ts';

const logger = createLogger('silent');

function harness(minSpacingMs = 1_000) {
  let now = 10_000;
  const calls: string[] = [];
  let release: (() => void) | undefined;
  let cancelled = 0;
  const retraining = new Retraining(
    { pairs: ['BTC/USD', 'ETH/USD'], horizons: [1, 5], intervalMs: 0, minSpacingMs },
    {
      train: async (pair, horizon): Promise<TrainResult> => {
        calls.push(`${pair}|${horizon}`);
        // The first training blocks until released, so requests pile up behind it.
        if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve));
        return { code: 0, summary: 'ok' };
      },
      cancel: async () => void (cancelled += 1),
    },
    logger,
    () => now,
  );
  return {
    retraining,
    calls,
    release: () => release?.(),
    advance: (ms: number) => (now += ms),
    cancelled: () => cancelled,
  };
}

test('retrains every pair and horizon one at a time, queuing each at most once', async () => {
  const h = harness();
  h.retraining.requestAll('schedule');
  h.retraining.requestAll('schedule'); // while the first runs: nothing queued twice
  h.retraining.onAlert('ETH/USD', 5);
  await new Promise((resolve) => setImmediate(resolve));
  h.release();
  await h.retraining.idle();
  assert.deepEqual(h.calls, ['BTC/USD|1', 'BTC/USD|5', 'ETH/USD|1', 'ETH/USD|5']);
});

test('a drift alert retrains its pair and horizon, not again within the spacing, and ignores unknown ones', async () => {
  const h = harness(60_000);
  h.retraining.onAlert('ETH/USD', 1);
  await new Promise((resolve) => setImmediate(resolve));
  h.release();
  await h.retraining.idle();
  h.advance(30_000);
  h.retraining.onAlert('ETH/USD', 1);
  h.retraining.onAlert('SOL/USD', 1);
  h.retraining.onAlert('ETH/USD', 15);
  await h.retraining.idle();
  assert.deepEqual(h.calls, ['ETH/USD|1']);
  h.advance(31_000);
  h.retraining.onAlert('ETH/USD', 1);
  await h.retraining.idle();
  assert.deepEqual(h.calls, ['ETH/USD|1', 'ETH/USD|1']);
});

test('stopping drops what is queued and takes no new requests', async () => {
  const h = harness();
  h.retraining.requestAll('schedule');
  await new Promise((resolve) => setImmediate(resolve));
  const stopped = h.retraining.stop();
  h.release();
  await stopped;
  assert.equal(h.cancelled(), 1, 'the training in progress was cancelled');
  h.retraining.requestAll('schedule');
  await h.retraining.idle();
  assert.deepEqual(h.calls, ['BTC/USD|1']);
});

test('stopping ends the training in progress instead of waiting for it, and does not call it failed', async () => {
  const lines: string[] = [];
  let kill: ((result: TrainResult) => void) | undefined;
  const retraining = new Retraining(
    { pairs: ['BTC/USD'], horizons: [1], intervalMs: 0, minSpacingMs: 0 },
    {
      // A training that only ends when its child is killed, as a long one does within a shutdown.
      train: () => new Promise<TrainResult>((resolve) => (kill = resolve)),
      cancel: async () => kill?.({ code: null, summary: '' }),
    },
    pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
  );
  retraining.requestAll('schedule');
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(kill, 'the training started');
  await retraining.stop();
  assert.deepEqual(
    lines.filter((line) => line.includes('retraining failed')),
    [],
  );
});
