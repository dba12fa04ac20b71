import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GraphQLError } from 'graphql';
import { RateLimiter, throwIfRefused } from './rate-limit.ts';

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('token bucket rate limiter', () => {
  it('allows a burst, then refuses until a token has refilled', () => {
    const time = clock();
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, now: time.now });
    assert.deepEqual(
      [1, 2, 3].map(() => limiter.take('k').allowed),
      [true, true, true],
    );
    assert.deepEqual(limiter.take('k'), { allowed: false, retryAfterMs: 500 });
    time.advance(499);
    assert.equal(limiter.take('k').allowed, false, 'not quite one token yet');
    time.advance(1);
    assert.equal(limiter.take('k').allowed, true, 'one token after 500 ms at 2/s');
    assert.equal(limiter.take('k').allowed, false);
  });

  it('refills no further than the burst', () => {
    const time = clock();
    const limiter = new RateLimiter({ ratePerSecond: 10, burst: 2, now: time.now });
    limiter.take('k');
    time.advance(60_000);
    assert.deepEqual(
      [1, 2, 3].map(() => limiter.take('k').allowed),
      [true, true, false],
    );
  });

  it('keeps one bucket per key', () => {
    const time = clock();
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, now: time.now });
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('a').allowed, false);
    assert.equal(limiter.take('b').allowed, true, "a's empty bucket does not limit b");
  });

  it('throws RATE_LIMITED with HTTP 429 and a Retry-After in whole seconds', () => {
    const time = clock();
    const limiter = new RateLimiter({ ratePerSecond: 0.25, burst: 1, now: time.now });
    throwIfRefused(limiter.take('k'));
    time.advance(1_500);
    assert.throws(
      () => throwIfRefused(limiter.take('k')),
      (error: unknown) => {
        assert.ok(error instanceof GraphQLError);
        assert.equal(error.extensions['code'], 'RATE_LIMITED');
        assert.equal(error.extensions['retryAfterSeconds'], 3, '4 s per token, 1.5 s elapsed');
        const http = error.extensions['http'] as { status: number; headers: Map<string, string> };
        assert.equal(http.status, 429);
        assert.equal(http.headers.get('retry-after'), '3');
        return true;
      },
    );
  });

  it('bounds its memory: over maxKeys it drops full buckets first (a missing bucket is a full one)', () => {
    const time = clock();
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 2, maxKeys: 10, now: time.now });
    limiter.take('busy');
    limiter.take('busy'); // empty
    for (let i = 0; i < 8; i++) limiter.take(`k${i}`); // one of two tokens left
    time.advance(1_000); // k0..k7 are full again; busy has one token
    limiter.take('n1');
    limiter.take('n2'); // 11 buckets: evict
    assert.equal(limiter.size, 3, 'the eight full buckets went');
    assert.equal(limiter.take('busy').allowed, true);
    assert.equal(limiter.take('busy').allowed, false, 'busy kept its bucket (a fresh one would hold 2)');
  });

  it('when no bucket is full, drops the least recently used', () => {
    const time = clock();
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 3, now: time.now });
    for (const key of ['a', 'b', 'c']) limiter.take(key);
    limiter.take('a'); // refused, but a is now the most recently used
    limiter.take('d');
    assert.ok(limiter.size <= 3, `size ${limiter.size}`);
    assert.equal(limiter.take('a').allowed, false, 'a was kept');
    assert.equal(limiter.take('b').allowed, true, 'b, the least recently used, was forgotten');
  });
});
