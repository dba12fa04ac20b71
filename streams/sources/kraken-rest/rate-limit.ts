/** Client-side pacing of Kraken REST calls, so a backfill stays under Kraken's call counter. */
import { sleep } from '../../../lib/backoff.ts';

export interface RateLimitOptions {
  /** Burst size: Kraken's maximum counter for the endpoint class. */
  capacity: number;
  /** Calls regained per second: Kraken's counter decay. */
  refillPerSec: number;
}

/**
 * Kraken's call counter as a token bucket: each call takes a token, tokens come back at
 * `refillPerSec` up to `capacity`.
 *
 * Hand-written rather than rate-limiter-flexible (used elsewhere in tickcast): Kraken's counter
 * decays continuously, and the library only counts in fixed windows (`points` per `duration`,
 * reset at the window's end; BurstyRateLimiter combines two such windows). Kraken's documented
 * private limit, a counter of 15 decaying by 0.33/s, as `{ points: 15, duration: 45 }` lets 15
 * calls through at the end of one window and 15 more at the start of the next: 30 within a
 * second where Kraken refuses the 16th. The library also reads Date.now itself, so the
 * client's injected clock could not drive it.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly capacity: number,
    private readonly refillPerSec: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(capacity >= 1) || !(refillPerSec > 0))
      throw new Error('token bucket needs capacity >= 1 and refillPerSec > 0');
    this.tokens = capacity;
    this.updatedAt = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.updatedAt) / 1000) * this.refillPerSec);
    this.updatedAt = t;
  }

  /** Waits for a token. Returns early (without one) if `signal` aborts; callers check it. */
  async take(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return;
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.refillPerSec) * 1000), signal);
    }
  }

  /** The server said we are over the limit: start again from an empty bucket. */
  drain(): void {
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
  }
}
