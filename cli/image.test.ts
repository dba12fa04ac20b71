/**
 * The container image cannot be built here (no Docker engine), so what makes it work is
 * checked from its Dockerfile: everything the CLI imports is copied into the image, every
 * package it imports is a production dependency (the image installs no others), and the
 * image runs `tickcast` as a non-root user on the Node version the project targets.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

/** Files reached from cli/main.ts through static and literal dynamic imports, and the packages they import. */
async function importClosure(entry: string): Promise<{ files: Set<string>; packages: Set<string> }> {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [resolve(repoRoot, entry)];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    const source = await readFile(file, 'utf8');
    for (const match of source.matchAll(IMPORT)) {
      const specifier = (match[1] ?? match[2]) as string;
      if (specifier.startsWith('.')) {
        if (specifier.endsWith('.ts')) pending.push(resolve(dirname(file), specifier));
      } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string));
      }
    }
  }
  return { files, packages };
}

/** The instructions of the Dockerfile's last stage (the image), one per line. */
async function finalStage(): Promise<string[]> {
  const text = (await readFile(resolve(repoRoot, 'Dockerfile'), 'utf8')).replace(/\\\n\s*/g, ' ');
  const lines = text.split('\n').filter((line) => line.trim() && !line.trim().startsWith('#'));
  const lastFrom = lines.findLastIndex((line) => line.startsWith('FROM '));
  return lines.slice(lastFrom);
}

describe('the container image (Dockerfile)', () => {
  it('copies every file the CLI imports', async () => {
    const stage = await finalStage();
    const copied = stage
      .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
      .flatMap((line) => line.split(/\s+/).slice(1, -1));
    const { files } = await importClosure('cli/main.ts');
    const tops = new Set([...files].map((file) => relative(repoRoot, file).split('/')[0] as string));
    assert.ok(tops.has('cli') && tops.has('streams'), [...tops].join(', '));
    for (const top of tops) assert.ok(copied.includes(top), `${top}/ is imported by the CLI but not copied`);
    const ignored = (await readFile(resolve(repoRoot, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim());
    for (const top of tops) assert.ok(!ignored.includes(top), `${top} is excluded by .dockerignore`);
  });

  it('imports only production dependencies at run time', async () => {
    const manifest = JSON.parse(await readFile(resolve(repoRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const { packages } = await importClosure('cli/main.ts');
    assert.ok(packages.has('kafkajs'), [...packages].join(', '));
    for (const name of packages) assert.ok(manifest.dependencies[name], `${name} is imported but not in dependencies`);
    assert.ok(manifest.dependencies['tsx'], 'bin/tickcast runs the sources through tsx');
  });

  it('installs production dependencies only and runs tickcast as a non-root user on Node 20', async () => {
    const dockerfile = await readFile(resolve(repoRoot, 'Dockerfile'), 'utf8');
    for (const from of dockerfile.match(/^FROM .*/gm) ?? []) assert.match(from, /^FROM node:20-bookworm-slim\b/);
    assert.match(dockerfile, /npm ci --omit=dev/);
    const stage = await finalStage();
    const user = stage.findLast((line) => line.startsWith('USER '))?.split(/\s+/)[1] ?? '';
    assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-root uid, so runAsNonRoot can verify it');
    assert.ok(stage.includes('ENTRYPOINT ["tickcast"]'), 'the manifests run `tickcast <command>`');
  });
});
