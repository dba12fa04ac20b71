/**
 * The benchmarks' child processes, shared by bench/subscriptions.ts and bench/soak.ts: a node
 * child under tsx with a raised open-files limit, stopped with SIGTERM then SIGKILL; a service
 * child started and awaited until its GraphQL endpoint answers; load generator children asked
 * over IPC (`request` on this side, `serveRequests` on theirs); and the clean-up stack a
 * benchmark unwinds when it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const TSX_LOADER = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  output(): string;
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/** A node child with a raised open-files limit (10,000 sockets); `exec` keeps the pid the node process's. */
export function startChild(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { ipc?: boolean; nodeFlags?: readonly string[] } = {},
): Child {
  const child = spawn(
    'bash',
    [
      '-c',
      'ulimit -n 65535 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"',
      name,
      process.execPath,
      '--enable-source-maps',
      ...(options.nodeFlags ?? []),
      '--import',
      TSX_LOADER,
      ...args,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])] },
  );
  let output = '';
  // BENCH_LOG_DIR keeps every child's whole output (evidence when a run goes wrong).
  const logDir = process.env['BENCH_LOG_DIR'];
  const file = logDir ? createWriteStream(join(logDir, `${name.replaceAll(' ', '-')}.log`), { flags: 'a' }) : undefined;
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
    file?.write(chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
  return { name, process: child, pid: child.pid!, output: () => output, exited };
}

export async function stopChild(child: Child, graceMs = 15_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** `{ __typename }` to a GraphQL endpoint over HTTP: the cheapest query every schema answers. */
export const askTypename = (url: string, timeoutMs: number): Promise<Response> =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"query":"{ __typename }"}',
    signal: AbortSignal.timeout(timeoutMs),
  });

/** Polls a GraphQL endpoint with `{ __typename }` until it answers 200, failing early if the child exits. */
export async function waitReady(child: Child, url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${child.name} exited during start-up:\n${child.output()}`);
    const ok = await askTypename(url, 2_000).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${child.name} not ready after ${timeoutMs} ms:\n${child.output()}`);
    await sleep(250);
  }
}

/** Sends `message` to an IPC child and resolves with its first reply of `type` (a reply `{ type: 'error' }` rejects). */
export function request<M extends { type: string }, T extends M['type']>(
  child: Child,
  message: M,
  type: T,
  timeoutMs: number,
): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no "${type}" from ${child.name} in ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (reply: M | { type: 'error'; message: string }) => {
      if (reply.type === 'error' && 'message' in reply) done(new Error(`${child.name}: ${reply.message}`));
      else if (reply.type === type) done(undefined, reply as Extract<M, { type: T }>);
    };
    const onExit = () => done(new Error(`${child.name} exited:\n${child.output()}`));
    function done(error: Error | undefined, reply?: Extract<M, { type: T }>) {
      clearTimeout(timer);
      child.process.off('message', onMessage);
      child.process.off('exit', onExit);
      if (error) reject(error);
      else resolve(reply!);
    }
    child.process.on('message', onMessage);
    child.process.once('exit', onExit);
    child.process.send(message);
  });
}

/** `request` over this benchmark's messages. */

/** What to undo when a benchmark ends, in the order it was set up: `runCleanups` undoes it backwards. */
export type Cleanups = [string, () => Promise<unknown>][];

/** Runs every clean-up, the last pushed first; a failing one is reported and the rest still run. */
export async function runCleanups(cleanups: Cleanups, bench: string): Promise<void> {
  for (const [what, cleanup] of cleanups.reverse()) {
    await cleanup().catch((error: unknown) => console.error(`${bench} bench: ${what} failed:`, error));
  }
}

/** A child serving GraphQL at `url`: started, stopped at clean-up (after `graceMs`, SIGKILL), ready when this resolves. */
export async function startService(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  url: string,
  cleanups: Cleanups,
  options: { ipc?: boolean; nodeFlags?: readonly string[]; graceMs?: number } = {},
): Promise<Child> {
  const child = startChild(name, args, env, options);
  cleanups.push([`stopping ${name}`, () => stopChild(child, options.graceMs)]);
  await waitReady(child, url);
  return child;
}

/** One IPC child per name, each running `script` (which calls `serveRequests`), stopped at clean-up. */
export function startLoadGenerators(
  names: readonly string[],
  script: string,
  env: NodeJS.ProcessEnv,
  cleanups: Cleanups,
): Child[] {
  return names.map((name) => {
    const load = startChild(name, [script, 'load'], env, { ipc: true });
    cleanups.push([`stopping ${load.name}`, () => stopChild(load)]);
    return load;
  });
}

/**
 * The child side of `request`: each message from the parent goes to `handle`, and what it
 * returns (or resolves to) is the reply; a failure replies `{ type: 'error' }`, which rejects
 * the parent's request. The child exits when the parent goes away.
 */
export function serveRequests<M extends { type: string }>(handle: (message: M) => M | Promise<M> | undefined): void {
  const reply = (message: M | { type: 'error'; message: string }) => process.send?.(message);
  process.on('message', (message: M) => {
    let answer: M | Promise<M> | undefined;
    try {
      answer = handle(message);
    } catch (error) {
      reply({ type: 'error', message: String((error as Error).stack ?? error) });
      return;
    }
    if (answer instanceof Promise) {
      answer.then(reply, (error: unknown) =>
        reply({ type: 'error', message: String((error as Error).stack ?? error) }),
      );
    } else if (answer !== undefined) {
      reply(answer);
    }
  });
  process.once('disconnect', () => process.exit(0));
}
