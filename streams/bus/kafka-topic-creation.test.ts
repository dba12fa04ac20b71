import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { creationInDoubt } from './kafka.ts';

// kafkajs's own error classes, as it throws them (its typings omit some and mistype others).
type ErrorClass = new (...args: unknown[]) => Error;
const { KafkaJSAggregateError, KafkaJSCreateTopicError, KafkaJSNonRetriableError, KafkaJSTimeout, KafkaJSLockTimeout } =
  kafkajs as unknown as Record<
    | 'KafkaJSAggregateError'
    | 'KafkaJSCreateTopicError'
    | 'KafkaJSNonRetriableError'
    | 'KafkaJSTimeout'
    | 'KafkaJSLockTimeout',
    ErrorClass
  >;

/** A per-topic error as kafkajs builds it from a CreateTopics answer. */
const topicError = (type: string, topic = 't') =>
  new KafkaJSCreateTopicError({ type, code: 0, retriable: false, message: type } as unknown, topic);

describe('creationInDoubt: which failed createTopics calls may still have created the topics', () => {
  it("counts kafkajs's own leader-wait timeout", () => {
    assert.equal(creationInDoubt(new KafkaJSTimeout('Timed out while waiting for topic leaders')), true);
  });

  it('counts the broker timing out, metadata not propagated yet and an earlier attempt having created them', () => {
    for (const type of ['REQUEST_TIMED_OUT', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE'])
      assert.equal(creationInDoubt(topicError(type)), true, type);
    const mixed = new KafkaJSAggregateError('Topic creation errors', [
      topicError('REQUEST_TIMED_OUT', 'a'),
      topicError('TOPIC_ALREADY_EXISTS', 'b'),
    ]);
    assert.equal(creationInDoubt(mixed), true);
  });

  it('does not count a refusal, even when other topics of the request are only late', () => {
    assert.equal(creationInDoubt(topicError('INVALID_CONFIG')), false);
    assert.equal(creationInDoubt(topicError('TOPIC_AUTHORIZATION_FAILED')), false);
    const mixed = new KafkaJSAggregateError('Topic creation errors', [
      topicError('REQUEST_TIMED_OUT', 'a'),
      topicError('POLICY_VIOLATION', 'b'),
    ]);
    assert.equal(creationInDoubt(mixed), false);
    assert.equal(creationInDoubt(new KafkaJSAggregateError('none', [])), false);
  });

  it('does not count other failures: a lock timeout, a plain error, a thrown non-error', () => {
    assert.equal(creationInDoubt(new KafkaJSLockTimeout('lock')), false);
    assert.equal(creationInDoubt(new KafkaJSNonRetriableError('Invalid topics array')), false);
    assert.equal(creationInDoubt(new Error('boom')), false);
    assert.equal(creationInDoubt('REQUEST_TIMED_OUT'), false);
    assert.equal(creationInDoubt(null), false);
  });
});
