import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { explainStartupError } from './startup-error.ts';

// CommonJS: the error classes are not named exports.
const { KafkaJSConnectionError, KafkaJSNonRetriableError } = kafkajs;

const NO_SERVICES = { KAFKA_BROKERS: undefined, DATABASE_URL: undefined };

describe('start-up errors', () => {
  it('a port in use names the address and the settings that move it', () => {
    const error = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:4000'), {
      code: 'EADDRINUSE',
      syscall: 'listen',
      address: '127.0.0.1',
      port: 4000,
    });
    const text = explainStartupError(error, NO_SERVICES);
    assert.match(text, /cannot listen on 127\.0\.0\.1:4000: the port is in use/);
    assert.match(text, /GATEWAY_PORT/);
  });

  it('Kafka unreachable (kafkajs wraps the refused connection) says how to start it or go embedded', () => {
    const error = new KafkaJSNonRetriableError(
      new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'),
    );
    const text = explainStartupError(error, { ...NO_SERVICES, KAFKA_BROKERS: ['127.0.0.1:9092'] });
    assert.match(text, /^Kafka at 127\.0\.0\.1:9092 is not answering/);
    assert.match(text, /scripts\/services up kafka/);
    assert.match(text, /unset KAFKA_BROKERS/);
  });

  it('PostgreSQL refused names host and port, never the password', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), { code: 'ECONNREFUSED' });
    const text = explainStartupError(error, {
      ...NO_SERVICES,
      DATABASE_URL: 'postgres://tickcast:s3cret@127.0.0.1:5433/tickcast',
    });
    assert.match(text, /^PostgreSQL at 127\.0\.0\.1:5433 is not answering/);
    assert.doesNotMatch(text, /s3cret/);
  });

  it('anything else keeps its message', () => {
    assert.equal(explainStartupError(new Error('boom'), NO_SERVICES), 'start-up failed: boom');
  });
});
