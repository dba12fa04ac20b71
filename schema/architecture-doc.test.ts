import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TOPICS } from './topics.ts';

/**
 * docs/architecture.md names the module that owns each step and the topics between them; a
 * module moved or a topic renamed must not leave the doc pointing at nothing.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const doc = readFileSync(new URL('../docs/architecture.md', import.meta.url), 'utf8');

/** Repository paths in the doc: a top-level folder, then path segments (a relative link's `../` excluded). */
const PATH =
  /(?<![\w./-])((?:bench|cli|docs|gateway|grafana|k8s|lib|registry|schema|scripts|streams|subgraphs|test|training)\/[\w./-]*[\w/])/g;

describe('docs/architecture.md', () => {
  it('names only paths that exist', () => {
    const paths = [...new Set([...doc.matchAll(PATH)].map((m) => m[1]!))];
    assert.ok(paths.length >= 40, `found only ${paths.length} paths: is the pattern still right?`);
    const missing = paths.filter((path) => !existsSync(`${root}${path}`));
    assert.deepEqual(missing, [], 'paths in docs/architecture.md that do not exist');
  });

  it('names only declared topics', () => {
    const declared = new Set<string>(Object.values(TOPICS).map((t) => t.name));
    const names = [...new Set(doc.match(/\btickcast\.[a-z.-]+\.v\d+\b/g) ?? [])];
    assert.ok(names.length >= 10, `found only ${names.length} topic names: is the pattern still right?`);
    // Changelogs are named per processor by changelogTopic(), not declared in TOPICS.
    const unknown = names.filter((name) => !declared.has(name) && !name.endsWith('.changelog.v1'));
    assert.deepEqual(unknown, [], 'topics in docs/architecture.md that schema/topics.ts does not declare');
  });
});
