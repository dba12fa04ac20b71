/** Small JSON checkpoint files for resumable backfills, written atomically (temp file + rename). */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';

/** The checkpoint at `path`, or null when absent. Throws with a clear message when unreadable. */
export async function readCheckpoint<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(
      `checkpoint ${path} is not valid JSON; delete it to start the backfill or replay from the beginning`,
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `checkpoint ${path} has an unexpected shape; delete it to start the backfill or replay from the beginning`,
    );
  }
  return parsed.data;
}

export async function writeCheckpoint(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, 'utf8');
  await rename(tmp, path);
}
