/**
 * Progress of a backfill measured as time covered against the requested range: a cli-progress
 * bar on stderr when stderr is a terminal, otherwise structured log lines with the percentage
 * (at most one per `logEveryMs`, plus the final one).
 */
import cliProgress from 'cli-progress';
import type { Logger } from '../../lib/logger.ts';

export type ProgressMode = 'auto' | 'bar' | 'log' | 'off';

export interface ProgressOptions {
  mode: ProgressMode;
  label: string;
  startMs: number;
  endMs: number;
  logger: Logger;
  logEveryMs: number;
  now: () => number;
}

export class BackfillProgress {
  private readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly bar: cliProgress.SingleBar | null = null;
  private readonly totalSec: number;
  private lastLogAt = -Infinity;
  private lastPercent = -1;

  constructor(private readonly o: ProgressOptions) {
    this.mode = o.mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'log') : o.mode;
    this.totalSec = Math.max(1, Math.ceil((o.endMs - o.startMs) / 1000));
    if (this.mode === 'bar') {
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${o.label} [{bar}] {percentage}% | up to {until} | ETA {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.totalSec, 0, { until: new Date(o.startMs).toISOString() });
    }
  }

  /** Percent of the range covered when everything up to `coveredMs` has been fetched. */
  percent(coveredMs: number): number {
    const span = this.o.endMs - this.o.startMs;
    if (span <= 0) return 100;
    const p = ((coveredMs - this.o.startMs) / span) * 100;
    return Math.round(Math.min(100, Math.max(0, p)) * 10) / 10;
  }

  update(coveredMs: number, extra: Record<string, unknown> = {}): void {
    const percent = this.percent(coveredMs);
    const until = new Date(Math.min(Math.max(coveredMs, this.o.startMs), this.o.endMs)).toISOString();
    if (this.bar) {
      this.bar.update(Math.round((percent / 100) * this.totalSec), { until });
      return;
    }
    if (this.mode !== 'log') return;
    const now = this.o.now();
    if (now - this.lastLogAt < this.o.logEveryMs && percent < 100) return;
    if (percent === this.lastPercent) return;
    this.lastLogAt = now;
    this.lastPercent = percent;
    this.o.logger.info(
      { label: this.o.label, percent, coveredUntil: until, ...extra },
      `${this.o.label}: ${percent}% done`,
    );
  }

  stop(): void {
    this.bar?.stop();
  }
}
