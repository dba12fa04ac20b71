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

  it('sends the catch-up minutes in one go, then paces the rest', async () => {
    const t0 = Date.UTC(2023, 3, 4);
    const rows = Array.from({ length: 15 }, (_, i) => ({ ...ROW, time: t0 + i * MINUTE }));
    const calls: { at: number; minutes: number[] }[] = [];
    const started = Date.now();
    await replayCandles(
      rows,
      async (events) => {
        calls.push({ at: Date.now(), minutes: [...new Set(events.map((e) => Math.floor(e.time / MINUTE) * MINUTE))] });
      },
      // 6,000x: each paced minute waits 10 ms on the replay clock.
      { pair: 'BTC/USD', speed: 6_000, batchSize: 10_000, catchUpMinutes: 10 },
    );
    // The first ten minutes in one batch (with the eleventh's open clock), then a call per paced minute.
    assert.deepEqual(
      calls[0]?.minutes,
      rows.slice(0, 10).map((r) => r.time),
    );
    assert.equal(calls.length, 1 + 5 + 1, JSON.stringify(calls.map((c) => c.minutes.length)));
    // The four minutes after the first paced one each waited their 10 ms.
    assert.ok(calls.at(-1)!.at - started >= 40, `${calls.at(-1)!.at - started} ms`);
  });
});

const ROW = { open: 100, high: 101, low: 99, close: 100.5, vwap: 100.2, volume: 1, count: 4 };
