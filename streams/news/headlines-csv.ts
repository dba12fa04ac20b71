/**
 * The headline dataset in ../shared/data/news (the "Crypto News +" format): `;`-separated,
 * double-quoted fields where they contain `;`, columns date;sentiment;source;subject;text;
 * title;url, dates `D-M-YYYY H:MM` in UTC, rows newest first (not strictly). Read in place,
 * never copied into the repository.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { TickcastError } from '../../lib/errors.ts';

const HEADER = ['date', 'sentiment', 'source', 'subject', 'text', 'title', 'url'] as const;

/** The dataset's own sentiment class (TextBlob polarity by its author, not ground truth). */
export type DatasetSentiment = 'positive' | 'neutral' | 'negative';

export interface HeadlineRow {
  /** 1-based data row number in the file, for messages. */
  readonly line: number;
  readonly publishedAt: number;
  readonly sentiment: DatasetSentiment | null;
  readonly source: string;
  readonly subject: string;
  readonly text: string;
  readonly title: string;
  readonly url: string;
}

/** `5-7-2022 04:24` -> 2022-07-05T04:24Z; NaN when it does not parse. */
export function parseHeadlineDate(text: string): number {
  const match = /^(\d{1,2})-(\d{1,2})-(\d{4}) (\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!match) return NaN;
  const [, d, m, y, hh, mm] = match.map(Number) as [number, number, number, number, number, number];
  if (m < 1 || m > 12 || d < 1 || d > 31 || hh > 23 || mm > 59) return NaN;
  return Date.UTC(y, m - 1, d, hh, mm);
}

/** The `class` of `{'class': 'neutral', 'polarity': 0.0, ...}`; null when absent. */
export function parseDatasetSentiment(text: string): DatasetSentiment | null {
  const match = /'class':\s*'(positive|neutral|negative)'/.exec(text);
  return match ? (match[1] as DatasetSentiment) : null;
}

/**
 * Every row of the file in file order. A row with the wrong number of fields or an
 * unreadable date is yielded as `{ error }` so callers can count or dead-letter it.
 * Parsed by csv-parse: a quoted field may hold the delimiter, `""` quotes and newlines
 * (a headline's text can span lines); a stray quote inside an unquoted field is text,
 * as the dataset's writer meant it.
 */
export async function* readHeadlines(
  path: string,
): AsyncGenerator<{ row: HeadlineRow } | { error: string; line: number }> {
  let input: Readable = createReadStream(path);
  if (path.endsWith('.gz')) input = input.pipe(createGunzip());
  const records = input.pipe(
    parse({ delimiter: ';', bom: true, relax_quotes: true, relax_column_count: true, skip_empty_lines: true }),
  );
  let line = 0;
  try {
    for await (const fields of records as AsyncIterable<string[]>) {
      if (line === 0) {
        if (fields.join(';') !== HEADER.join(';')) {
          throw new TickcastError('CONFIG_INVALID', `${path} is not a headline dataset: expected ${HEADER.join(';')}`);
        }
        line += 1;
        continue;
      }
      const current = line;
      line += 1;
      if (fields.length === 1 && fields[0]?.trim() === '') continue;
      if (fields.length !== HEADER.length) {
        yield { error: `expected ${HEADER.length} fields, found ${fields.length}`, line: current };
        continue;
      }
      const [date, sentiment, source, subject, text, title, url] = fields as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      const publishedAt = parseHeadlineDate(date);
      if (Number.isNaN(publishedAt)) {
        yield { error: `unreadable date ${JSON.stringify(date)}`, line: current };
        continue;
      }
      yield {
        row: {
          line: current,
          publishedAt,
          sentiment: parseDatasetSentiment(sentiment),
          source,
          subject,
          text,
          title,
          url,
        },
      };
    }
  } catch (error) {
    // The rest of the file cannot be framed (e.g. a quote never closed): say where.
    if (error instanceof CsvError) {
      throw new TickcastError('CONFIG_INVALID', `${path}: unreadable after data row ${line - 1}: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** All readable rows, oldest first (the file is newest first, with a few steps out of order). */
export async function loadHeadlines(path: string): Promise<{ rows: HeadlineRow[]; unreadable: number }> {
  const rows: HeadlineRow[] = [];
  let unreadable = 0;
  for await (const entry of readHeadlines(path)) {
    if ('row' in entry) rows.push(entry.row);
    else unreadable += 1;
  }
  rows.sort((a, b) => a.publishedAt - b.publishedAt || a.line - b.line);
  return { rows, unreadable };
}
