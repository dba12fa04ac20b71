/**
 * The headline dataset in ../shared/data/news (the "Crypto News +" format): `;`-separated,
 * double-quoted fields where they contain `;`, columns date;sentiment;source;subject;text;
 * title;url, dates `D-M-YYYY H:MM` in UTC, rows newest first (not strictly). Read in place,
 * never copied into the repository.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
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

/** Splits one line on `delimiter`, honouring double quotes ("" is a literal quote). */
export function splitCsvLine(line: string, delimiter = ';'): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
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
 */
export async function* readHeadlines(
  path: string,
): AsyncGenerator<{ row: HeadlineRow } | { error: string; line: number }> {
  let input: Readable = createReadStream(path);
  if (path.endsWith('.gz')) input = input.pipe(createGunzip());
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const raw of lines) {
    if (line === 0) {
      if (splitCsvLine(raw).join(';') !== HEADER.join(';')) {
        throw new TickcastError('CONFIG_INVALID', `${path} is not a headline dataset: expected ${HEADER.join(';')}`);
      }
      line += 1;
      continue;
    }
    const current = line;
    line += 1;
    if (raw.trim() === '') continue;
    const fields = splitCsvLine(raw);
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
