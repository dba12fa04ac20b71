import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadOhlcCursor, loadTradesCursor, saveOhlcCursor, saveTradesCursor } from './cursor.ts';

const log = pino({ level: 'silent' });
const T0 = Date.UTC(2024, 0, 1);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tickcast-kraken-cursor-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Kraken REST backfill cursor', () => {
  it('resumes a trades cursor only for the same pair and start (the end may differ)', async () => {
    const checkpointPath = join(dir, 'trades.json');
    const fields = {
      pair: 'BTC/USD',
      startMs: T0,
      endMs: T0 + 60_000,
      since: '1704067230000000000',
      lastTradeId: 42,
      coveredMs: T0 + 30_000,
    };
    await saveTradesCursor(checkpointPath, fields, T0 + 31_000);
    const saved = JSON.parse(await readFile(checkpointPath, 'utf8')) as unknown;
    assert.deepEqual(saved, { v: 1, kind: 'trades', ...fields, updatedAt: new Date(T0 + 31_000).toISOString() });

    assert.deepEqual(await loadTradesCursor({ pair: 'BTC/USD', startMs: T0, checkpointPath }, log), saved);
    assert.equal(await loadTradesCursor({ pair: 'ETH/USD', startMs: T0, checkpointPath }, log), null);
    assert.equal(await loadTradesCursor({ pair: 'BTC/USD', startMs: T0 - 1, checkpointPath }, log), null);
    assert.equal(await loadTradesCursor({ pair: 'BTC/USD', startMs: T0 }, log), null, 'no path, no cursor');
  });

  it('resumes an OHLC cursor only for the same pair, start and interval', async () => {
    const checkpointPath = join(dir, 'ohlc.json');
    const fields = {
      pair: 'BTC/USD',
      intervalMinutes: 5,
      startMs: T0,
      since: T0 / 1000 + 600,
      lastRowTimeMs: T0 + 300_000,
      coveredMs: T0 + 600_000,
    };
    await saveOhlcCursor(checkpointPath, fields, T0);
    const same = { pair: 'BTC/USD', startMs: T0, intervalMinutes: 5, checkpointPath } as const;
    assert.equal((await loadOhlcCursor(same, log))?.since, fields.since);
    assert.equal(await loadOhlcCursor({ ...same, intervalMinutes: 1 }, log), null);
    assert.equal(await loadOhlcCursor({ ...same, startMs: T0 + 60_000 }, log), null);
    assert.equal(await loadOhlcCursor({ ...same, pair: 'ETH/USD' }, log), null);
  });
});
