import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { TokenBucket } from './rate-limit.ts';

/** Lets the bucket's loop run after a (mocked) timer fired; setImmediate is not mocked. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Starts a take() and reports whether it has returned yet. */
function pendingTake(bucket: TokenBucket, signal: AbortSignal): { readonly done: boolean } {
  const state = { done: false };
  void bucket.take(signal).then(() => {
    state.done = true;
  });
  return state;
}

describe('TokenBucket (Kraken call counter)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('lets `capacity` calls through at once, then one per 1/refillPerSec', async () => {
    const bucket = new TokenBucket(3, 2, () => Date.now());
    const signal = new AbortController().signal;
    for (let i = 0; i < 3; i++) await bucket.take(signal);
    const fourth = pendingTake(bucket, signal);
    await settle();
    mock.timers.tick(499);
    await settle();
    assert.equal(fourth.done, false, 'one token takes 500 ms at 2/s');
    mock.timers.tick(1);
    await settle();
    assert.equal(fourth.done, true);
    const fifth = pendingTake(bucket, signal);
    await settle();
    mock.timers.tick(499);
    await settle();
    assert.equal(fifth.done, false, 'the fourth call used the token regained so far');
    mock.timers.tick(1);
    await settle();
    assert.equal(fifth.done, true);
  });

  it('refills up to `capacity` only, however long it was idle', async () => {
    const bucket = new TokenBucket(3, 2, () => Date.now());
    const signal = new AbortController().signal;
    mock.timers.tick(60_000);
    for (let i = 0; i < 3; i++) await bucket.take(signal);
    const fourth = pendingTake(bucket, signal);
    await settle();
    assert.equal(fourth.done, false, 'a minute idle is still a burst of 3');
    mock.timers.tick(500);
    await settle();
    assert.equal(fourth.done, true);
  });

  it('after drain() (a rate-limit answer) the next call waits for a refill even with a full bucket', async () => {
    const bucket = new TokenBucket(3, 2, () => Date.now());
    const signal = new AbortController().signal;
    bucket.drain();
    const first = pendingTake(bucket, signal);
    await settle();
    mock.timers.tick(499);
    await settle();
    assert.equal(first.done, false);
    mock.timers.tick(1);
    await settle();
    assert.equal(first.done, true);
  });

  it('returns without a token when the signal aborts while waiting', async () => {
    const bucket = new TokenBucket(1, 1, () => Date.now());
    const controller = new AbortController();
    await bucket.take(controller.signal);
    const waiting = pendingTake(bucket, controller.signal);
    await settle();
    assert.equal(waiting.done, false);
    controller.abort();
    await settle();
    assert.equal(waiting.done, true);
  });

  it('refuses a bucket that could never let a call through', () => {
    assert.throws(() => new TokenBucket(0, 1), /capacity >= 1/);
    assert.throws(() => new TokenBucket(1, 0), /refillPerSec > 0/);
  });
});
