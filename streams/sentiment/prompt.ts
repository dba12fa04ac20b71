/**
 * The LLM prompt is a versioned file in the repository (prompts/<version>.md): front
 * matter `version:` that must equal the file name, then a `## system` and a `## user`
 * section with {{placeholders}}. The version goes into every signal and every cache key,
 * so changing the wording means a new file and a new version, never a silent edit.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TickcastError } from '../../lib/errors.ts';

export const PROMPTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'prompts');
export const DEFAULT_PROMPT = 'sentiment-v1';

export interface Prompt {
  readonly version: string;
  readonly system: string;
  readonly user: string;
}

export function parsePrompt(source: string, fileVersion: string): Prompt {
  const match = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(source);
  const version = match ? /^version:\s*(\S+)\s*$/m.exec(match[1] ?? '')?.[1] : undefined;
  if (!match || !version)
    throw new TickcastError('CONFIG_INVALID', `prompt ${fileVersion} has no front matter version`);
  if (version !== fileVersion) {
    throw new TickcastError('CONFIG_INVALID', `prompt file ${fileVersion}.md declares version ${version}`);
  }
  const sections = new Map<string, string>();
  for (const part of (match[2] ?? '').split(/^## /m).slice(1)) {
    const newline = part.indexOf('\n');
    sections.set(part.slice(0, newline).trim(), part.slice(newline + 1).trim());
  }
  const system = sections.get('system');
  const user = sections.get('user');
  if (!system || !user) throw new TickcastError('CONFIG_INVALID', `prompt ${version} needs "## system" and "## user"`);
  return { version, system, user };
}

export function loadPrompt(version = DEFAULT_PROMPT, dir = PROMPTS_DIR): Prompt {
  const file = join(dir, `${basename(version)}.md`);
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new TickcastError('CONFIG_INVALID', `no prompt file ${file} (LLM_PROMPT_VERSION=${version})`, { cause });
  }
  return parsePrompt(source, version);
}

/** The user message with {{name}} replaced; an unknown placeholder is a broken prompt file. */
export function renderUser(prompt: Prompt, values: Readonly<Record<string, string>>): string {
  return prompt.user.replace(/\{\{(\w+)\}\}/g, (_all, name: string) => {
    const value = values[name];
    if (value === undefined) throw new TickcastError('CONFIG_INVALID', `prompt ${prompt.version} uses {{${name}}}`);
    return value;
  });
}
