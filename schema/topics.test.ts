import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { TOPICS } from './topics.ts';
import { topicsTable } from '../scripts/topics-table.ts';

/** A markdown table row with its cells trimmed and rules shortened, as prettier may pad them. */
const normalizeRow = (line: string): string =>
  line
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replace(/^-{3,}$/, '---'))
    .join('|');

describe('topic declarations', () => {
  it('docs/architecture.md carries the table generated from schema/topics.ts', async () => {
    const doc = (await readFile(new URL('../docs/architecture.md', import.meta.url), 'utf8'))
      .split('\n')
      .map(normalizeRow);
    const table = topicsTable().split('\n').map(normalizeRow);
    const start = doc.indexOf(table[0]!);
    assert.ok(start >= 0, 'the topic table is missing: regenerate it with `npx tsx scripts/topics-table.ts`');
    assert.deepEqual(
      doc.slice(start, start + table.length),
      table,
      'regenerate it with `npx tsx scripts/topics-table.ts`',
    );
  });

  it('names every topic uniquely with a version suffix', () => {
    const names = Object.values(TOPICS).map((t) => t.name);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^tickcast\.[a-z.]+\.v\d+$/);
  });
});
