/**
 * `tickcast train` as a child process: training is CPU-bound, so the service that asks for
 * it (first models at start-up, scheduled and drift-triggered retraining) keeps its event loop
 * free. One child at a time; `stop()` kills the running one.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface TrainResult {
  readonly code: number | null;
  /** The first line `tickcast train` printed: the version, its alias and why. */
  readonly summary: string;
}

export class TrainChild {
  private child: ChildProcess | undefined;
  private stopped = false;
  private queue: Promise<unknown> = Promise.resolve();

  /** Runs `tickcast train ARGS` after the previous run finished; null once stopped. */
  run(args: readonly string[]): Promise<TrainResult | null> {
    const next = this.queue.then(() => (this.stopped ? null : this.spawn(args)));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private spawn(args: readonly string[]): Promise<TrainResult> {
    // The same entry point and loader this process runs with.
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? 'cli/main.ts', 'train', ...args], {
      env: { ...process.env, METRICS_PORT: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    // A service that exits without stopping (a start-up failure: `tickcast start` trains from
    // its first second) takes its training with it rather than leaving it running orphaned.
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    return new Promise((resolve) =>
      child.once('exit', (code) => {
        process.off('exit', killOnExit);
        this.child = undefined;
        resolve({ code, summary: output.split('\n')[0] ?? '' });
      }),
    );
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.child?.kill('SIGTERM');
    await this.queue;
  }
}
