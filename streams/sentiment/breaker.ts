/**
 * A circuit breaker around the LLM: after `failureThreshold` consecutive failed calls it
 * opens and callers stop calling for `cooldownMs` (the extractor holds its articles); then one trial
 * call is let through (half-open): success closes it, failure opens it again. The clock is
 * injected so tests step time instead of sleeping.
 */
import { gauge } from '../../lib/metrics.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

const STATE_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };
const circuitState = gauge(
  'tickcast_sentiment_circuit_state',
  'LLM circuit breaker: 0 closed, 1 half-open (trial call), 2 open (articles held until the LLM is back)',
);

export interface BreakerOptions {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly now?: () => number;
  readonly onChange?: (from: CircuitState, to: CircuitState) => void;
}

export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private readonly now: () => number;

  constructor(private readonly options: BreakerOptions) {
    this.now = options.now ?? Date.now;
    circuitState.set(STATE_VALUE.closed);
  }

  get state(): CircuitState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.options.cooldownMs) this.move('half-open');
    return this.current;
  }

  /** Time until an open circuit lets a trial through (0 when not open). */
  msUntilTrial(): number {
    return this.state === 'open' ? Math.max(0, this.openedAt + this.options.cooldownMs - this.now()) : 0;
  }

  /** Whether a call may go to the LLM now; in half-open, only one trial at a time. */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.trialInFlight = false;
    this.failures = 0;
    if (this.current !== 'closed') this.move('closed');
  }

  failure(): void {
    this.trialInFlight = false;
    this.failures += 1;
    if (this.current === 'half-open' || this.failures >= this.options.failureThreshold) {
      this.openedAt = this.now();
      if (this.current !== 'open') this.move('open');
    }
  }

  private move(to: CircuitState): void {
    const from = this.current;
    this.current = to;
    circuitState.set(STATE_VALUE[to]);
    this.options.onChange?.(from, to);
  }
}
