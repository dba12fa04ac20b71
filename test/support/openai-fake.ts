/** Starts test/fakes/openai-server.ts as a separate process and scripts it over HTTP. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { repoRoot } from './data.ts';
import type { Behaviour } from '../fakes/openai-server.ts';

export interface OpenAiFake {
  /** Base URL for the `openai` client, ending in /v1. */
  readonly url: string;
  readonly key: string;
  script(...behaviours: Behaviour[]): Promise<void>;
  setDefault(behaviour: Behaviour): Promise<void>;
  /** Chat requests received so far. */
  requests(): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/** `port` 0 picks a free one; a fake started again on a stopped one's port looks like an endpoint coming back. */
export async function startOpenAiFake(key = 'test-key', port = 0): Promise<OpenAiFake> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'test/fakes/openai-server.ts'), '--port', String(port), '--key', key],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`openai fake exited with ${code} before listening`)));
  });
  const { url } = JSON.parse(first) as { url: string };
  const root = url.replace(/\/v1$/, '');
  const post = async (path: string, body: unknown): Promise<void> => {
    const response = await fetch(`${root}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  };
  return {
    url,
    key,
    script: (...behaviours) => post('/control/script', { script: behaviours }),
    setDefault: (behaviour) => post('/control/default', behaviour),
    requests: async () =>
      ((await (await fetch(`${root}/control/requests`)).json()) as { requests: Record<string, unknown>[] }).requests,
    stop: async () => {
      lines.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}
