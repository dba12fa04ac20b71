/**
 * Runs a service until SIGINT/SIGTERM, then stops its parts in reverse order of
 * start-up so in-flight batches finish and commit before connections close.
 */
import type { Logger } from '../lib/logger.ts';

export class Lifecycle {
  private readonly stops: { name: string; stop: () => Promise<void> }[] = [];
  private stopping: Promise<void> | undefined;
  /** Listening from construction: a signal during start-up stops the service once it is up, instead of killing it half-started. */
  private readonly signalled: Promise<string>;

  constructor(private readonly logger: Logger) {
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
      for (const { name, stop } of [...this.stops].reverse()) {
        await stop().catch((error: unknown) => this.logger.error({ err: error, part: name }, 'stop failed'));
      }
      this.logger.info('stopped');
    })();
    return this.stopping;
  }

  /** Resolves after a signal (or `done` settling) has stopped everything. */
  async runUntilSignal(done?: Promise<unknown>): Promise<void> {
    const finished = done?.then(
      () => 'finished',
      (error: unknown) => {
        this.logger.error({ err: error }, 'a part of the service failed');
        process.exitCode = 1;
        return 'failure';
      },
    );
    const reason = await Promise.race(finished ? [this.signalled, finished] : [this.signalled]);
    await this.stop(reason);
  }
}
