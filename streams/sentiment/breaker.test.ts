import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type CircuitState } from './breaker.ts';
import { metricValue } from '../../lib/metrics.ts';

describe('CircuitBreaker', () => {
  it('opens after consecutive failures, lets one trial through after the cooldown, closes on its success', async () => {
    let now = 0;
    const moves: string[] = [];
    const breaker = new CircuitBreaker({
      failureThreshold: 3,
      cooldownMs: 1_000,
      now: () => now,
      onChange: (from: CircuitState, to: CircuitState) => moves.push(`${from}->${to}`),
    });
    breaker.failure();
    breaker.success();
    breaker.failure();
    breaker.failure();
    assert.equal(breaker.state, 'closed', 'failures must be consecutive');
    breaker.failure();
    assert.equal(breaker.state, 'open');
    assert.equal(await metricValue('tickcast_sentiment_circuit_state'), 2);
    assert.equal(breaker.allow(), false);
    now = 999;
    assert.equal(breaker.allow(), false);
    now = 1_000;
    assert.equal(breaker.allow(), true, 'one trial after the cooldown');
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.allow(), false, 'only one trial at a time');
    breaker.success();
    assert.equal(breaker.state, 'closed');
    assert.equal(await metricValue('tickcast_sentiment_circuit_state'), 0);
    assert.deepEqual(moves, ['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('reopens when the trial fails', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 10, now: () => now });
    breaker.failure();
    now = 10;
    assert.equal(breaker.allow(), true);
    breaker.failure();
    assert.equal(breaker.state, 'open');
    now = 19;
    assert.equal(breaker.allow(), false);
    now = 20;
    assert.equal(breaker.allow(), true);
  });
});
