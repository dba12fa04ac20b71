/**
 * Keeps the champions current: retrains every (pair, horizon) on a schedule, and a single one
 * when the error monitor raises a drift alert for it, from the feature store's history
 * (`tickcast train`, through the same promotion gate: a new version becomes champion only if
 * it beats persistence and the current champion significantly on the same holdout).
 * One training at a time; an alert within `minSpacingMs` of the last training of the same
 * (pair, horizon) is dropped (the one before it is still being judged), and a request already
 * queued or running is not queued again. Bounded: at most one queued entry per (pair, horizon).
 */
import type { Logger } from '../lib/logger.ts';
import type { TrainResult } from './train-child.ts';

export interface RetrainingOptions {
  readonly pairs: readonly string[];
  readonly horizons: readonly number[];
  /** Retrain everything this often; 0: never on a schedule. */
  readonly intervalMs: number;
  /** Fewest ms between two trainings of one (pair, horizon) triggered by alerts. */
  readonly minSpacingMs: number;
}

/** Trains one (pair, horizon), null once stopped; `cancel` ends the training in progress (kills its child). */
export interface Trainer {
  train(pair: string, horizon: number): Promise<TrainResult | null>;
  cancel(): Promise<void>;
}

export class Retraining {
  private readonly queued = new Map<string, { pair: string; horizon: number; reason: string }>();
  private readonly lastTrained = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  /** The (pair, horizon) being trained: not queued again while it runs. */
  private running: string | undefined;
  private stopped = false;

  constructor(
    private readonly options: RetrainingOptions,
    private readonly trainer: Trainer,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.timer = setInterval(() => this.requestAll('schedule'), this.options.intervalMs);
    this.timer.unref();
  }

  /** Queues every (pair, horizon). */
  requestAll(reason: string): void {
    for (const pair of this.options.pairs)
      for (const horizon of this.options.horizons) this.request(pair, horizon, reason);
  }

  /** A drift alert for (pair, horizon): retrain it unless it was trained within the spacing. */
  onAlert(pair: string, horizon: number): void {
    const last = this.lastTrained.get(`${pair}|${horizon}`);
    if (last !== undefined && this.now() - last < this.options.minSpacingMs) {
      this.logger.info({ pair, horizon }, 'drift alert: retrained recently, not again yet');
      return;
    }
    if (!this.options.pairs.includes(pair) || !this.options.horizons.includes(horizon)) return;
    this.request(pair, horizon, 'drift alert');
  }

  /** Settles when the queue is empty (tests). */
  idle(): Promise<void> {
    return this.draining ?? Promise.resolve();
  }

  /** Drops what is queued and ends the training in progress: one can take minutes, beyond any shutdown timeout. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.queued.clear();
    await Promise.all([this.trainer.cancel(), this.draining]);
  }

  private request(pair: string, horizon: number, reason: string): void {
    if (this.stopped) return;
    const key = `${pair}|${horizon}`;
    if (key !== this.running && !this.queued.has(key)) this.queued.set(key, { pair, horizon, reason });
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    for (let next = this.first(); next !== undefined && !this.stopped; next = this.first()) {
      const [key, { pair, horizon, reason }] = next;
      this.queued.delete(key);
      this.running = key;
      this.lastTrained.set(key, this.now());
      this.logger.info({ pair, horizon, reason }, 'retraining');
      const result = await this.trainer.train(pair, horizon).finally(() => (this.running = undefined));
      // Cut off by stop(): not a failed training.
      if (result === null || this.stopped) return;
      if (result.code === 0) this.logger.info({ pair, horizon, reason, summary: result.summary }, 'retrained');
      else
        this.logger.warn(
          { pair, horizon, reason, code: result.code },
          'retraining failed (too little stored history?): the serving version stays; see `tickcast train` above',
        );
    }
  }

  private first(): [string, { pair: string; horizon: number; reason: string }] | undefined {
    return this.queued.entries().next().value;
  }
}
