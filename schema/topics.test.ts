import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { TOPICS } from './topics.ts';
import { topicsTable } from '../scripts/topics-table.ts';

describe('topic declarations', () => {
  it('docs/architecture.md carries the table generated from schema/topics.ts', async () => {
    const doc = await readFile(new URL('../docs/architecture.md', import.meta.url), 'utf8');
    assert.ok(doc.includes(topicsTable()), 'regenerate it with `npx tsx scripts/topics-table.ts`');
  });

  it('names every topic uniquely with a version suffix', () => {
    const names = Object.values(TOPICS).map((t) => t.name);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^tickcast\.[a-z.]+\.v\d+$/);
  });
});
