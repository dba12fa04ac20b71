import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { MarketEvent } from '../../schema/events.ts';
import type { OhlcMinute } from '../../lib/candle-csv.ts';
import { replayCandles } from './candle-replay.ts';
import { createRecordingWriter, RecordingReplaySource, recordingPositionSchema } from './recording.ts';
import { ReplayPosition, replayPositionFile } from './replay-position.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2023, 3, 4);
const schema = z.object({ lastMinute: z.number() });

const minutes: OhlcMinute[] = Array.from({ length: 30 }, (_, i) => ({
  time: T0 + i * MINUTE,
  open: 100 + i,
  high: 101 + i,
  low: 99 + i,
  close: 100.5 + i,
  vwap: 100.2 + i,
  volume: 1.5,
  count: 4,
}));

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tickcast-position-'));
}

const id = (e: MarketEvent): string => (e.kind === 'trade' ? `trade ${e.tradeId}` : `clock ${e.pair} ${e.time}`);

describe('ReplayPosition', () => {
  it('is null before the first save, and saves at most once per interval plus once on flush', async () => {
    let now = 0;
    const path = join(await tempDir(), 'p.json');
    const position = new ReplayPosition(path, schema, 'test', { minIntervalMs: 1_000, now: () => now });
    assert.equal(await position.load(), null);
    await position.acknowledged({ lastMinute: 1 });
    for (let i = 2; i <= 50; i += 1) {
      now += 10;
      await position.acknowledged({ lastMinute: i });
    }
    // 490 ms after the first write: nothing newer written yet.
    assert.deepEqual(await position.load(), { lastMinute: 1 });
    now += 600;
    await position.acknowledged({ lastMinute: 51 });
    assert.deepEqual(await position.load(), { lastMinute: 51 });
    await position.acknowledged({ lastMinute: 52 });
    await position.flush();
    assert.deepEqual(await position.load(), { lastMinute: 52 });
  });

  it('refuses a damaged file with a message that says how to start over', async () => {
    const path = join(await tempDir(), 'p.json');
    await writeFile(path, '{"lastMinute":');
    await assert.rejects(new ReplayPosition(path, schema, 'test').load(), /not valid JSON; delete it/);
  });

  it('keeps one file per replayed file and scope', () => {
    const a = replayPositionFile('/d', 'candles', 'x.csv.gz', ['BTC/USD']);
    assert.equal(a, replayPositionFile('/d', 'candles', './x.csv.gz', ['BTC/USD']));
    assert.notEqual(a, replayPositionFile('/d', 'candles', 'x.csv.gz', ['ETH/USD']));
    assert.match(a, /^\/d\/replay-positions\/candles-x\.csv\.gz-[0-9a-f]{12}\.json$/);
  });
});

describe('candle replay resumes after its saved position', () => {
  it('a replay stopped mid-file and resumed publishes every event of the uninterrupted run once', async () => {
    const whole: MarketEvent[] = [];
    await replayCandles(minutes, async (batch) => void whole.push(...batch), {
      pair: 'BTC/USD',
      speed: 0,
      batchSize: 7,
    });

    const path = join(await tempDir(), 'candles.json');
    const first = new ReplayPosition(path, schema, 'test', { minIntervalMs: 0 });
    const abort = new AbortController();
    const sent: MarketEvent[] = [];
    await replayCandles(
      minutes,
      async (batch) => {
        sent.push(...batch);
        if (sent.length > 40) abort.abort();
      },
      {
        pair: 'BTC/USD',
        speed: 0,
        batchSize: 7,
        signal: abort.signal,
        onAcknowledged: (lastMinute) => first.acknowledged({ lastMinute }),
      },
    );
    await first.flush();
    const saved = await new ReplayPosition(path, schema, 'test').load();
    assert.ok(saved !== null && saved.lastMinute < minutes.at(-1)!.time, 'stopped mid-file');
    // Everything acknowledged up to the saved minute, nothing of a later minute lost in between.
    const kept = sent.filter((e) => e.time < saved.lastMinute + MINUTE);
    await replayCandles(minutes, async (batch) => void kept.push(...batch), {
      pair: 'BTC/USD',
      speed: 0,
      batchSize: 7,
      resumeAfter: saved.lastMinute,
    });
    assert.deepEqual(kept.map(id), whole.map(id));
  });

  it('a stopped replay sends no end clock past its last minute (that would close minutes still to come)', async () => {
    const abort = new AbortController();
    const sent: MarketEvent[] = [];
    await replayCandles(
      minutes,
      async (batch) => {
        sent.push(...batch);
        abort.abort();
      },
      { pair: 'BTC/USD', speed: 0, batchSize: 1, signal: abort.signal },
    );
    const newest = Math.max(...sent.filter((e) => e.kind === 'trade').map((e) => e.time));
    assert.ok(sent.every((e) => e.kind === 'trade' || e.time <= newest + MINUTE));
  });
});

describe('recording replay resumes after its saved position', () => {
  it('skips the acknowledged events and continues the gap clocks', async () => {
    const dir = await tempDir();
    const file = join(dir, 'r.jsonl');
    const writer = createRecordingWriter(file);
    const recorded: MarketEvent[] = Array.from({ length: 20 }, (_, i) => ({
      v: 1,
      kind: 'trade',
      pair: i % 2 === 0 ? 'BTC/USD' : 'ETH/USD',
      tradeId: i,
      price: 100,
      qty: 1,
      side: null,
      // A two-minute hole after event 9: gap clocks on both sides of the stop.
      time: T0 + i * 1_000 + (i >= 10 ? 2 * MINUTE : 0),
      source: 'kraken-ws',
    }));
    await writer.sink(recorded);
    await writer.close();

    const whole: MarketEvent[] = [];
    await new RecordingReplaySource(file, 0, { batchSize: 3 }).start(
      async (b) => void whole.push(...b),
      new AbortController().signal,
    );

    const position = new ReplayPosition(join(dir, 'p.json'), recordingPositionSchema, 'test', { minIntervalMs: 0 });
    const abort = new AbortController();
    const resumed: MarketEvent[] = [];
    await new RecordingReplaySource(file, 0, {
      batchSize: 3,
      onAcknowledged: (p) => position.acknowledged(p),
    }).start(async (b) => {
      resumed.push(...b);
      if (resumed.length >= 9) abort.abort();
    }, abort.signal);
    const saved = await position.load();
    assert.ok(saved !== null && saved.events > 0 && saved.events < recorded.length, 'stopped mid-file');
    await new RecordingReplaySource(file, 0, { batchSize: 3, resumeFrom: saved }).start(
      async (b) => void resumed.push(...b),
      new AbortController().signal,
    );
    assert.deepEqual(resumed.map(id), whole.map(id));
    assert.ok(JSON.parse(await readFile(join(dir, 'p.json'), 'utf8')).events > 0);
  });
});
