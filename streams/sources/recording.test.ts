import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MarketEvent } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { createRecordingWriter, readRecording, RecordingReplaySource } from './recording.ts';

const events: MarketEvent[] = [
  {
    v: 1,
    kind: 'trade',
    pair: 'BTC/USD',
    tradeId: 1,
    price: 28_000.1,
    qty: 0.01,
    side: 'buy',
    time: 1_000,
    source: 'kraken-ws',
  },
  {
    v: 1,
    kind: 'trade',
    pair: 'ETH/USD',
    tradeId: 9,
    price: 1_900.55,
    qty: 2.5,
    side: 'sell',
    time: 1_200,
    source: 'kraken-ws',
  },
  { v: 1, kind: 'clock', pair: 'BTC/USD', time: 1_300, source: 'kraken-ws' },
];

async function roundTrip(name: string): Promise<MarketEvent[]> {
  const path = join(await mkdtemp(join(tmpdir(), 'tickcast-rec-')), name);
  const writer = createRecordingWriter(path);
  await writer.sink(events.slice(0, 2));
  await writer.sink(events.slice(2));
  assert.equal(writer.count(), 3);
  await writer.close();
  const read: MarketEvent[] = [];
  for await (const event of readRecording(path)) read.push(event);
  return read;
}

describe('recording format', () => {
  for (const name of ['trades.jsonl', 'trades.jsonl.gz']) {
    it(`writes and reads back every event (${name})`, async () => {
      assert.deepEqual(await roundTrip(name), events);
    });
  }

  it('replays in order, marking the source, paced by the speed factor', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'tickcast-rec-')), 'r.jsonl');
    const writer = createRecordingWriter(path);
    await writer.sink(events);
    await writer.close();
    const replayed: MarketEvent[] = [];
    const started = Date.now();
    // 300 ms of recorded time at speed 1 takes at least 300 ms; as fast as possible takes no pacing.
    await new RecordingReplaySource(path, 1).start(
      async (batch) => void replayed.push(...batch),
      new AbortController().signal,
    );
    assert.ok(Date.now() - started >= 290, `paced replay took ${Date.now() - started} ms`);
    assert.deepEqual(
      replayed.map((e) => [e.pair, e.time, e.source]),
      events.map((e) => [e.pair, e.time, 'replay-recording']),
    );
  });

  it('names the file and line of a corrupt record', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'tickcast-rec-')), 'bad.jsonl');
    await writeFile(path, `${JSON.stringify(events[0])}\n{"v":1,"kind":"trade","price":"NaN"}\n`);
    await assert.rejects(
      async () => {
        for await (const _ of readRecording(path)) void _;
      },
      (e: unknown) => e instanceof TickcastError && e.code === 'INVALID_EVENT' && /bad\.jsonl:2 /.test(e.message),
    );
  });

  it('steps clocks through a gap in a pair, so the candles processor accepts the events after it', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'tickcast-rec-')), 'gap.jsonl');
    const writer = createRecordingWriter(path);
    const t0 = Date.UTC(2024, 0, 1, 12, 0, 30);
    const btc = events[0]!;
    const eth = events[1]!;
    // The recorder was disconnected for ten minutes; ETH's events straddle BTC's gap.
    await writer.sink([
      { ...btc, time: t0 },
      { ...eth, time: t0 + 1_000 },
      { ...eth, time: t0 + 2_000 },
      { ...btc, time: t0 + 10 * 60_000 },
    ]);
    await writer.close();
    const replayed: MarketEvent[] = [];
    await new RecordingReplaySource(path, 0).start(
      async (batch) => void replayed.push(...batch),
      new AbortController().signal,
    );
    const minute = (m: number) => Date.UTC(2024, 0, 1, 12, m);
    assert.deepEqual(
      replayed.map((e) => [e.kind, e.pair, e.time, e.source]),
      [
        ['trade', 'BTC/USD', t0, 'replay-recording'],
        ['trade', 'ETH/USD', t0 + 1_000, 'replay-recording'],
        ['trade', 'ETH/USD', t0 + 2_000, 'replay-recording'],
        ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((m) => ['clock', 'BTC/USD', minute(m), 'replay-recording']),
        ['trade', 'BTC/USD', t0 + 10 * 60_000, 'replay-recording'],
      ],
    );
  });
});
