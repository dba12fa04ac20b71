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
        error.problems.some((p) => p.startsWith('PAIRS="BTCUSD"') && p.includes('BTC/USD')) &&
        error.problems.some((p) => p.startsWith('CANDLE_INTERVALS=')),
    );
  });
});
