import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { FakeKrakenRestServer, syntheticTrades } from '../../../test/fakes/kraken-rest-server.ts';
import { KrakenPublicApi } from './public-api.ts';
import { TokenBucket } from './rate-limit.ts';

describe('KrakenPublicApi retries', () => {
  it('waits the Retry-After Kraken sent when it is longer than the backoff', async () => {
    const server = await FakeKrakenRestServer.start({
      trades: { XBTUSD: syntheticTrades({ count: 2, startMs: Date.UTC(2024, 0, 1), stepMs: 1_000 }) },
    });
    const api = new KrakenPublicApi({
      baseUrl: server.url,
      timeoutMs: 5_000,
      bucket: new TokenBucket(10, 1_000),
      retry: { initialDelayMs: 10, multiplier: 1, maxDelayMs: 10, jitter: 0, maxAttempts: 3 },
      random: () => 0,
      log: pino({ level: 'silent' }),
    });
    server.injectFaults([{ kind: 'http', status: 503, retryAfter: '1' }]);
    try {
      await api.get('Trades', { pair: 'XBTUSD', since: '0' }, 'BTC/USD', new AbortController().signal);
      const [refused, retried] = server.requests;
      assert.equal(refused?.status, 503);
      assert.equal(retried?.outcome, 'ok');
      // A timer may fire a few ms early relative to the server's clock; the backoff alone is 10 ms.
      assert.ok(retried.at - refused.at >= 950, `retried after ${retried.at - refused.at} ms`);
    } finally {
      await server.close();
    }
  });
});
