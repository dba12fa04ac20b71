import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHeadlines, parseDatasetSentiment, parseHeadlineDate, readHeadlines } from './headlines-csv.ts';
import { TickcastError } from '../../lib/errors.ts';
import { NEWS, requireData } from '../../test/support/data.ts';

const HEADER = 'date;sentiment;source;subject;text;title;url';
const SENTIMENT = "{'class': 'positive', 'polarity': 0.5}";

describe('headline dataset parsing', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tickcast-headlines-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function read(name: string, content: string): Promise<unknown[]> {
    const path = join(dir, name);
    await writeFile(path, content);
    const entries: unknown[] = [];
    for await (const entry of readHeadlines(path)) entries.push(entry);
    return entries;
  }

  it('reads a quoted field holding newlines, quotes, commas and the delimiter as one field', async () => {
    const text = 'Line one; still "one", quoted.\nLine two, after a newline.\r\nLine three.';
    const quoted = `"${text.replaceAll('"', '""')}"`;
    const entries = await read(
      'quoted.csv',
      [
        HEADER,
        `5-7-2022 04:24;"${SENTIMENT}";CoinDesk;bitcoin;${quoted};"Bitcoin ""surges""; again";https://example.com/a`,
        `5-7-2022 04:25;"${SENTIMENT}";CoinDesk;ethereum;plain text;Ether, too;https://example.com/b`,
        '',
      ].join('\n'),
    );
    assert.deepEqual(entries, [
      {
        row: {
          line: 1,
          publishedAt: Date.UTC(2022, 6, 5, 4, 24),
          sentiment: 'positive',
          source: 'CoinDesk',
          subject: 'bitcoin',
          text,
          title: 'Bitcoin "surges"; again',
          url: 'https://example.com/a',
        },
      },
      {
        row: {
          line: 2,
          publishedAt: Date.UTC(2022, 6, 5, 4, 25),
          sentiment: 'positive',
          source: 'CoinDesk',
          subject: 'ethereum',
          text: 'plain text',
          title: 'Ether, too',
          url: 'https://example.com/b',
        },
      },
    ]);
  });

  it('yields rows with the wrong field count or date as errors and goes on', async () => {
    const entries = await read(
      'bad.csv',
      [HEADER, 'a;b;c', `32-1-2022 00:00;"${SENTIMENT}";s;x;t;T;u`, '', '1-1-2022 00:00;;s;x;t;T;u', ''].join('\n'),
    );
    assert.deepEqual(
      entries.map((e) => ('row' in (e as object) ? 'row' : e)),
      [
        { error: 'expected 7 fields, found 3', line: 1 },
        { error: 'unreadable date "32-1-2022 00:00"', line: 2 },
        'row',
      ],
    );
  });

  it('refuses a file whose quote never closes, naming the file', async () => {
    await assert.rejects(
      read('unclosed.csv', `${HEADER}\n1-1-2022 00:00;;s;x;"never closed;T;u\n`),
      (error: unknown) =>
        error instanceof TickcastError && error.code === 'CONFIG_INVALID' && /unclosed\.csv/.test(error.message),
    );
  });

  it('reads day-first dates as UTC and refuses impossible ones', () => {
    assert.equal(parseHeadlineDate('5-7-2022 04:24'), Date.UTC(2022, 6, 5, 4, 24));
    assert.equal(parseHeadlineDate('12-10-2021 20:00'), Date.UTC(2021, 9, 12, 20, 0));
    assert.ok(Number.isNaN(parseHeadlineDate('2022-07-05 04:24')));
    assert.ok(Number.isNaN(parseHeadlineDate('5-13-2022 04:24')));
  });

  it('reads the class of the sentiment column', () => {
    assert.equal(parseDatasetSentiment("{'class': 'negative', 'polarity': -0.2, 'subjectivity': 0.4}"), 'negative');
    assert.equal(parseDatasetSentiment('{}'), null);
  });

  it('reads every row of the real file, oldest first, with the documented class counts', async () => {
    const { rows, unreadable } = await loadHeadlines(requireData(NEWS));
    assert.equal(rows.length + unreadable, 7_524);
    assert.equal(unreadable, 0);
    assert.equal(rows[0]?.publishedAt, Date.UTC(2021, 9, 12, 20, 0));
    assert.equal(rows.at(-1)?.publishedAt, Date.UTC(2022, 6, 5, 4, 24));
    const count = (c: string): number => rows.filter((r) => r.sentiment === c).length;
    assert.deepEqual([count('positive'), count('neutral'), count('negative')], [3_431, 2_741, 1_352]);
    for (let i = 1; i < rows.length; i += 1) assert.ok(rows[i]!.publishedAt >= rows[i - 1]!.publishedAt);
  });
});
