/**
 * Runs a service until SIGINT/SIGTERM, then stops its parts in reverse order of
 * start-up so in-flight batches finish and commit before connections close.
 *
 * A service that fails (a part's task rejects, or a dependency stays down beyond its
 * bound) stops the same way and then exits non-zero, so its supervisor restarts it. It
 * never lingers half-stopped: ports closed while a retrying client or background
 * training keeps the event loop alive. A stop that hangs (a disconnect waiting on a dead
 * broker) is cut off after `shutdownTimeoutMs`.
 */
import { dependencies, type DependencyHealth } from '../lib/dependencies.ts';
import type { Logger } from '../lib/logger.ts';

export interface LifecycleOptions {
  /** The longest a stop may take before the process exits anyway (SHUTDOWN_TIMEOUT_MS). */
  readonly shutdownTimeoutMs: number;
  /** Whose outage bounds fail the service. */
  readonly health: DependencyHealth;
  /** Ends the process (tests replace it). */
  readonly exit: (code: number) => void;
}

const DEFAULTS: LifecycleOptions = {
  shutdownTimeoutMs: 15_000,
  health: dependencies,
  exit: (code) => process.exit(code),
};

export class Lifecycle {
  private readonly stops: { name: string; stop: () => Promise<void> }[] = [];
  private stopping: Promise<void> | undefined;
  /** The part a stop is waiting on, named when the shutdown timeout cuts the stop off. */
  private stoppingPart: string | undefined;
  /** Listening from construction: a signal during start-up stops the service once it is up, instead of killing it half-started. */
  private readonly signalled: Promise<string>;
  private readonly options: LifecycleOptions;

  constructor(
    private readonly logger: Logger,
    options: Partial<LifecycleOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.signalled = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
  }

  add(name: string, stop: () => Promise<void>): void {
    this.stops.push({ name, stop });
  }

  /** Stops everything once; later calls wait for the first. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info({ reason }, 'shutting down');
      this.options.health.stop();
      for (const { name, stop } of [...this.stops].reverse()) {
        const started = Date.now();
        this.stoppingPart = name;
        await stop().catch((error: unknown) => this.logger.error({ err: error, part: name }, 'stop failed'));
        // Which part a slow shutdown waits on, for an operator tuning SHUTDOWN_TIMEOUT_MS.
        this.logger.debug({ part: name, ms: Date.now() - started }, 'part stopped');
      }
      this.stoppingPart = undefined;
      this.logger.info('stopped');
    })();
    return this.stopping;
  }

  /**
   * Resolves after a signal (or `done` settling) has stopped everything. After a failure
   * the process exits 1 once stopped; after a signal it exits by itself, or with its exit
   * code once `shutdownTimeoutMs` has passed if something still holds it.
   */
  async runUntilSignal(done?: Promise<unknown>): Promise<void> {
    const failed = (error: unknown): string => {
      this.logger.error({ err: error }, `a part of the service failed: ${(error as Error).message ?? String(error)}`);
      process.exitCode = 1;
      return 'failure';
    };
    const finished = done?.then(() => 'finished', failed);
    const outage = this.options.health.outageExceeded.catch(failed);
    const reason = await Promise.race(finished ? [this.signalled, finished, outage] : [this.signalled, outage]);
    const timeout = setTimeout(() => {
      const code = process.exitCode === undefined || process.exitCode === 0 ? 1 : Number(process.exitCode);
      // Said as the failure path says it: a supervisor's log shows the same line however the stop ended.
      this.logger.error(
        { reason, timeoutMs: this.options.shutdownTimeoutMs, waitingOn: this.stoppingPart },
        `still running after the shutdown timeout: exiting with status ${code} so the supervisor restarts this service`,
      );
      this.options.exit(code);
    }, this.options.shutdownTimeoutMs);
    // The timer only ends a process that something else keeps alive.
    timeout.unref();
    await this.stop(reason);
    if (reason === 'failure') {
      clearTimeout(timeout);
      this.logger.error('exiting with status 1 so the supervisor restarts this service');
      this.options.exit(1);
    }
  }
}

/**
 * Stops `parts` together and, once `slowMs` has passed, logs the ones still stopping: a part
 * stopped with others (the stream processors) is otherwise one name in the shutdown log.
 */
export async function stopTogether(
  parts: readonly { name: string; stop: () => Promise<void> }[],
  logger: Logger,
  slowMs = 5_000,
): Promise<void> {
  const pending = new Set(parts.map((part) => part.name));
  const slow = setTimeout(() => logger.warn({ parts: [...pending], ms: slowMs }, 'still stopping'), slowMs);
  slow.unref();
  try {
    await Promise.all(parts.map(async ({ name, stop }) => (await stop(), pending.delete(name))));
  } finally {
    clearTimeout(slow);
  }
}
