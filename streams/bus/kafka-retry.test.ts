import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { retryingRetriable } from './kafka-retry.ts';

// kafkajs's own protocol error, built from a broker's error code as kafkajs builds it.
const { KafkaJSProtocolError, KafkaJSNonRetriableError } = kafkajs as unknown as Record<
  'KafkaJSProtocolError' | 'KafkaJSNonRetriableError',
  new (...args: unknown[]) => Error
>;
const notLeader = () =>
  new KafkaJSProtocolError({
    type: 'NOT_LEADER_FOR_PARTITION',
    code: 6,
    retriable: true,
    message: 'This server is not the leader for that topic-partition',
  });

/** A call that fails with `errors` in turn, then answers 'ends'. */
function failing(...errors: Error[]): { call: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    call: async () => {
      const error = errors[calls++];
      if (error) throw error;
      return 'ends';
    },
    calls: () => calls,
  };
}

describe('retryingRetriable: admin calls kafkajs gives up on while a new leader settles', () => {
  it('calls again after NOT_LEADER_FOR_PARTITION until the broker answers', async () => {
    const probe = failing(notLeader(), notLeader());
    assert.equal(await retryingRetriable(probe.call, { backoffMs: 1 }), 'ends');
    assert.equal(probe.calls(), 3);
  });

  it('throws a non-retriable error at once', async () => {
    const refusal = new KafkaJSNonRetriableError('Invalid topic');
    const probe = failing(refusal);
    await assert.rejects(retryingRetriable(probe.call, { backoffMs: 1 }), (e) => e === refusal);
    assert.equal(probe.calls(), 1);
  });

  it('gives up after its attempts with the last error', async () => {
    const errors = [notLeader(), notLeader(), notLeader()];
    const probe = failing(...errors);
    await assert.rejects(retryingRetriable(probe.call, { attempts: 3, backoffMs: 1 }), (e) => e === errors[2]);
    assert.equal(probe.calls(), 3);
  });
});
