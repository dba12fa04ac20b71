import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../lib/logger.ts';
import { NEWS, requireData } from '../../test/support/data.ts';
import { ReplayPosition } from '../sources/replay-position.ts';
import { HeadlineReplaySource, headlinePositionSchema } from './replay.ts';

const logger = createLogger('silent');

describe('headline replay resumes after its saved position', () => {
  it('a replay stopped after a few batches and started again publishes the rest, not the dataset from its first row', async () => {
    const path = requireData(NEWS);
    const whole: string[] = [];
    await new HeadlineReplaySource({ path, logger }).start(
      async (items) => void whole.push(...items.map((i) => i.id)),
      new AbortController().signal,
    );

    const dir = await mkdtemp(join(tmpdir(), 'tickcast-news-position-'));
    try {
      const position = () =>
        new ReplayPosition(join(dir, 'news.json'), headlinePositionSchema, 'news', { minIntervalMs: 0 });
      const abort = new AbortController();
      const first: string[] = [];
      await new HeadlineReplaySource({ path, logger, batchSize: 100, position: position() }).start(async (items) => {
        first.push(...items.map((i) => i.id));
        if (first.length >= 300) abort.abort();
      }, abort.signal);
      const saved = await position().load();
      assert.ok(saved !== null && saved.nextRow >= 300, `a saved position (${JSON.stringify(saved)})`);

      const second: string[] = [];
      await new HeadlineReplaySource({ path, logger, position: position() }).start(
        async (items) => void second.push(...items.map((i) => i.id)),
        new AbortController().signal,
      );
      const before = new Set(first);
      assert.ok(!before.has(second[0]!), 'the restarted replay does not begin with what was published');
      assert.ok(second.length < whole.length - 250, 'most of the first run is not published again');
      assert.deepEqual(new Set([...first, ...second]), new Set(whole), 'nothing is skipped');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
