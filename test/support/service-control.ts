/** Stops and starts one real service the way an operator would, through the project's own script. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './data.ts';

export type ServiceName = 'kafka' | 'postgres' | 'mlflow' | 'elasticsearch';

/** `scripts/services <command> <service>`, with this process's environment (ports, state dir). */
export function services(command: 'up' | 'down', service: ServiceName): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, 'scripts/services'), [command, service], { cwd: repoRoot, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`scripts/services ${command} ${service} exited ${code}`)),
    );
  });
}
