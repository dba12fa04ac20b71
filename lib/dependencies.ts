/**
 * What this process depends on (Kafka, PostgreSQL, MLflow, Elasticsearch, the LLM) and
 * whether each is reachable now. One registry per process, like
 * the metrics registry: the ops server's and the gateway's /ready answer 503 naming what is
 * down, `tickcast_dependency_up{dependency}` shows it, and each change of state is logged
 * once (down, then up again), however many calls fail in between.
 *
 * A dependency may carry an outage bound: down for longer than that, the process gives up
 * (the Lifecycle stops it and exits non-zero) so its supervisor restarts it, rather than
 * retrying forever with clients half-stuck. While it is within the bound, nothing is lost:
 * the processors commit input offsets only after their writes, so the input waits in Kafka.
 */
import type { Logger } from './logger.ts';
import { gauge } from './metrics.ts';

export type DependencyName = 'kafka' | 'postgres' | 'mlflow' | 'elasticsearch' | 'llm';

export interface DependencyState {
  readonly dependency: DependencyName;
  readonly up: boolean;
  /** Why it is down (the last failure's message); absent while up. */
  readonly reason?: string;
  /** Epoch ms of the last change of state. */
  readonly since: number;
}

export interface ProbeOptions {
  /** Time between checks. */
  readonly intervalMs: number;
  /**
   * Consecutive failed checks before the dependency counts as down (default 1): one check that
   * is merely slow on a loaded machine must not restart every process (DEPENDENCY_FAILURES_BEFORE_DOWN).
   */
  readonly failuresBeforeDown?: number;
  /** Down for longer than this: the process fails (`outageExceeded` rejects). Unset: no bound. */
  readonly maxOutageMs?: number | undefined;
  /**
   * Back after any outage: the process fails too, to be restarted with fresh clients. For
   * clients that do not reliably resume by themselves (kafkajs: seen ready but stuck after a
   * 10 s broker restart).
   */
  readonly restartAfterOutage?: boolean;
  /**
   * A check still pending after this long counts as failed (default: twice the interval).
   * Without it a check that never settles (a client stuck mid-connect while a broker shuts
   * down) would leave the dependency "up" for as long as it hangs, since checks never overlap.
   */
  readonly checkTimeoutMs?: number;
}

/** A dependency unreachable beyond its outage bound, or back after an outage its clients do not survive. */
export class DependencyOutageError extends Error {
  constructor(
    readonly dependency: DependencyName,
    readonly downForMs: number,
    reason: string | undefined,
    readonly recovered = false,
  ) {
    super(
      recovered
        ? `${dependency} is reachable again after ${Math.round(downForMs / 1000)} s down: ` +
            'exiting so the supervisor restarts this process with fresh clients'
        : `${dependency} has been unreachable for ${Math.round(downForMs / 1000)} s (${reason ?? 'no reason given'}): ` +
            'exiting so the supervisor restarts this process',
    );
    this.name = 'DependencyOutageError';
  }
}

const up = gauge('tickcast_dependency_up', '1 while a dependency of this process is reachable, 0 while it is down', [
  'dependency',
]);

export class DependencyHealth {
  private readonly states = new Map<DependencyName, DependencyState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private logger: Logger | undefined;
  private failOutage: ((error: DependencyOutageError) => void) | undefined;
  /** Rejects once any dependency stays down beyond its bound; never resolves. */
  readonly outageExceeded: Promise<never>;

  constructor(private readonly now: () => number = Date.now) {
    this.outageExceeded = new Promise<never>((_resolve, reject) => {
      this.failOutage = reject;
    });
    // Nobody may be listening (a process without a Lifecycle, a unit test).
    this.outageExceeded.catch(() => undefined);
  }

  /** Where state changes are logged; the first caller's logger wins. */
  useLogger(logger: Logger): void {
    this.logger ??= logger;
  }

  /** Records the outcome of a check or a call; logs and updates the gauge only when the state changes. */
  report(dependency: DependencyName, ok: boolean, reason?: string): void {
    const previous = this.states.get(dependency);
    if (previous && previous.up === ok) return;
    const state: DependencyState = ok
      ? { dependency, up: true, since: this.now() }
      : { dependency, up: false, since: this.now(), ...(reason === undefined ? {} : { reason }) };
    this.states.set(dependency, state);
    up.set({ dependency }, ok ? 1 : 0);
    if (!ok) this.logger?.warn({ dependency, reason }, `dependency down: ${dependency}`);
    else if (previous) {
      this.logger?.info({ dependency, downForMs: state.since - previous.since }, `dependency up again: ${dependency}`);
    }
  }

  /** Dependencies down now, with their reasons. */
  down(): DependencyState[] {
    return [...this.states.values()].filter((s) => !s.up);
  }

  isDown(dependency: DependencyName): boolean {
    return this.states.get(dependency)?.up === false;
  }

  /**
   * Checks `check` every `intervalMs` (`failuresBeforeDown` rejections in a row mean down,
   * with the last one's message as the reason), and fails the process when the dependency stays down beyond `maxOutageMs`.
   * The returned function stops checking.
   */
  watch(dependency: DependencyName, check: () => Promise<void>, options: ProbeOptions): () => void {
    let running = false;
    let failures = 0;
    const probe = async (): Promise<void> => {
      if (running) return;
      running = true;
      const timeoutMs = options.checkTimeoutMs ?? 2 * options.intervalMs;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        failures = 0;
        const outage = this.states.get(dependency);
        this.report(dependency, true);
        if (options.restartAfterOutage && outage && !outage.up) {
          this.failOutage?.(new DependencyOutageError(dependency, this.now() - outage.since, outage.reason, true));
        }
      } catch (error) {
        failures++;
        if (failures >= (options.failuresBeforeDown ?? 1))
          this.report(dependency, false, error instanceof Error ? error.message : String(error));
      } finally {
        clearTimeout(timer);
        running = false;
      }
      const state = this.states.get(dependency);
      if (state && !state.up && options.maxOutageMs !== undefined && this.now() - state.since > options.maxOutageMs) {
        this.failOutage?.(new DependencyOutageError(dependency, this.now() - state.since, state.reason));
      }
    };
    void probe();
    const timer = setInterval(() => void probe(), options.intervalMs);
    // Checking alone must not keep a process alive that has nothing else to do.
    timer.unref();
    this.timers.add(timer);
    return () => {
      clearInterval(timer);
      this.timers.delete(timer);
    };
  }

  /** Stops every check (shutdown). */
  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
  }
}

/** This process's dependencies. */
export const dependencies = new DependencyHealth();

/** The body of a /ready answer: 'ready', or 'not ready' naming what is down and why. */
export function readiness(selfReady: boolean, health: DependencyHealth = dependencies): { ok: boolean; body: string } {
  const down = health.down().map(({ dependency, reason }) => ({ dependency, ...(reason ? { reason } : {}) }));
  const ok = selfReady && down.length === 0;
  return {
    ok,
    body: JSON.stringify(
      ok
        ? { status: 'ready' }
        : {
            status: 'not ready',
            reason:
              down.length > 0 ? `unavailable: ${down.map((d) => d.dependency).join(', ')}` : 'starting or stopping',
            down,
          },
    ),
  };
}
