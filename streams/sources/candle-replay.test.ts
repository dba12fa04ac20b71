import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { replayCandles } from './candle-replay.ts';

const MINUTE = 60_000;

describe('candle replay pacing', () => {
  it('leaves no abort listener behind per paced minute (a long replay added one a minute)', async () => {
    const abort = new AbortController();
    const t0 = Date.UTC(2023, 3, 4);
    const rows = Array.from({ length: 15 }, (_, i) => ({
      time: t0 + i * MINUTE,
      open: 100,
      high: 101,
      low: 99,
      close: 100.5,
      vwap: 100.2,
      volume: 1,
      count: 4,
    }));
    // 6,000x: each minute waits 10 ms on the replay clock.
    const result = await replayCandles(rows, async () => undefined, {
      pair: 'BTC/USD',
      speed: 6_000,
      signal: abort.signal,
    });
    assert.equal(result.minutes, 15);
    assert.equal(getEventListeners(abort.signal, 'abort').length, 0);
  });
});
