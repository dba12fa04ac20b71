/** Runs tickcast commands as child processes, the way Kubernetes runs them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './data.ts';

export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  /** Output so far, for failure messages. */
  output(): string;
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/** Variables that select real services; an embedded run must not inherit them from the test's environment. */
const SERVICE_VARIABLES = ['KAFKA_BROKERS', 'DATABASE_URL', 'MLFLOW_TRACKING_URI', 'ELASTICSEARCH_URL'];

export function startService(
  name: string,
  args: string[],
  env: Record<string, string>,
  options: { embedded?: boolean } = {},
): Service {
  const inherited = { ...process.env };
  if (options.embedded) for (const variable of SERVICE_VARIABLES) delete inherited[variable];
  // bin/tickcast execs node itself: the pid we signal is the service, not a wrapper.
  const child = spawn(join(repoRoot, 'bin/tickcast'), args, {
    cwd: repoRoot,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
  return { name, child, output: () => output, exited };
}

/** SIGKILL: no shutdown hooks run, exactly like a node dying under it. */
export async function kill9(service: Service): Promise<void> {
  const pid = service.child.pid;
  service.child.kill('SIGKILL');
  const result = await service.exited;
  if (result !== 'SIGKILL')
    throw new Error(`${service.name} exited with ${String(result)} before it could be killed:\n${service.output()}`);
  // Nothing of the service may survive its kill (a wrapper process would leave the real one running).
  if (pid !== undefined && isAlive(pid)) throw new Error(`${service.name} (pid ${pid}) survived SIGKILL`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function stopGracefully(service: Service, timeoutMs = 20_000): Promise<number | NodeJS.Signals | null> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return service.exited;
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), timeoutMs);
  const result = await service.exited;
  clearTimeout(timer);
  return result;
}
