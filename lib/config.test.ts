import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.ts';

describe('config', () => {
  it('defaults to the embedded services', () => {
    const config = loadConfig({});
    assert.equal(config.KAFKA_BROKERS, undefined);
    assert.equal(config.DATABASE_URL, undefined);
    assert.deepEqual(config.PAIRS, ['BTC/USD', 'ETH/USD']);
    assert.deepEqual(config.CANDLE_INTERVALS, ['1m', '5m', '15m', '1h']);
  });

  it('parses lists and numbers', () => {
    const config = loadConfig({ KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9093', CANDLE_ALLOWED_LATENESS_MS: '500' });
    assert.deepEqual(config.KAFKA_BROKERS, ['127.0.0.1:9092', '127.0.0.1:9093']);
    assert.equal(config.CANDLE_ALLOWED_LATENESS_MS, 500);
  });

  it('names the variable and the fix when a value is invalid', () => {
    assert.throws(
      () => loadConfig({ PAIRS: 'BTCUSD', CANDLE_INTERVALS: '1m,7x' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.length === 2 &&
        error.problems.some((p) => p.startsWith('PAIRS (item 1): ') && p.includes('BTC/USD')) &&
        error.problems.some((p) => p.startsWith('CANDLE_INTERVALS (item 2): ')),
    );
  });

  it('never repeats a value in its message: it may be a secret', () => {
    const secret = 'hunter2-but-longer-than-16';
    assert.throws(
      () =>
        loadConfig({
          TICKCAST_INTERNAL_SECRET: `${'k'.repeat(32)},${secret}`,
          DATABASE_URL: `postgres//tickcast:${secret}@db`,
          LOG_LEVEL: secret,
          METRICS_TOKEN: 'short',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.doesNotMatch(error.message, /hunter2|short/);
        assert.match(error.message, /TICKCAST_INTERNAL_SECRET \(item 2\): each secret needs at least 32 bytes/);
        assert.match(error.message, /DATABASE_URL: /);
        assert.match(error.message, /LOG_LEVEL: /);
        assert.match(error.message, /METRICS_TOKEN: at least 16 characters/);
        return true;
      },
    );
  });

  it('binds every server to the loopback interface unless told otherwise', () => {
    const config = loadConfig({});
    assert.deepEqual(
      [config.GATEWAY_HOST, config.SUBGRAPH_HOST, config.METRICS_HOST],
      ['127.0.0.1', '127.0.0.1', '127.0.0.1'],
    );
  });

  it('reads the internal secrets in rotation order', () => {
    const [a, b] = ['a'.repeat(32), 'b'.repeat(40)];
    assert.deepEqual(loadConfig({ TICKCAST_INTERNAL_SECRET: `${a}, ${b}` }).TICKCAST_INTERNAL_SECRET, [a, b]);
    assert.equal(loadConfig({}).TICKCAST_INTERNAL_SECRET, undefined);
  });
});
