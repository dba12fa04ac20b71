import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadHeadlines, parseDatasetSentiment, parseHeadlineDate, splitCsvLine } from './headlines-csv.ts';
import { NEWS, requireData } from '../../test/support/data.ts';

describe('headline dataset parsing', () => {
  it('splits on ; outside double quotes', () => {
    assert.deepEqual(splitCsvLine('a;"b;c";"say ""hi""";'), ['a', 'b;c', 'say "hi"', '']);
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
