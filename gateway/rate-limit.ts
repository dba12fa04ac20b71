/**
 * Per-key token buckets: each key holds up to `burst` tokens, refilled continuously at
 * `ratePerSecond`; an operation takes one. In memory, per gateway replica (N replicas
 * allow N times the rate; a shared store is the upgrade path if that matters).
 */
import { gatewayError } from './errors.ts';

export interface RateLimitOptions {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Buckets kept at most; full buckets are dropped first (a missing bucket is a full one). */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

export type TakeResult =
  { readonly allowed: true; readonly remaining: number } | { readonly allowed: false; readonly retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError('rate limit needs ratePerSecond > 0 and burst >= 1');
    }
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** Takes `cost` tokens from `key`'s bucket, or says how long until they are there. */
  take(key: string, cost = 1): TakeResult {
    const now = this.now();
    const bucket = this.refilled(key, now);
    // Re-insert so the map stays in least-recently-used order for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      this.evict(now);
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((cost - bucket.tokens) / this.options.ratePerSecond) * 1000) };
  }

  /** Throws RATE_LIMITED (HTTP 429 with Retry-After) when `key`'s bucket is empty. */
  consume(key: string, cost = 1): void {
    const result = this.take(key, cost);
    if (result.allowed) return;
    const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    throw gatewayError('RATE_LIMITED', `rate limit exceeded; retry after ${seconds} s`, {
      headers: { 'retry-after': String(seconds) },
      extensions: { retryAfterSeconds: seconds },
    });
  }

  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string, now: number): Bucket {
    const bucket = this.buckets.get(key);
    if (!bucket) return { tokens: this.options.burst, updatedAt: now };
    const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + elapsed * this.options.ratePerSecond);
    bucket.updatedAt = now;
    return bucket;
  }

  /** Over `maxKeys`: drop full buckets, then the least recently used, down to 90% (amortised O(1)). */
  private evict(now: number): void {
    if (this.buckets.size <= this.maxKeys) return;
    const target = Math.floor(this.maxKeys * 0.9);
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.options.ratePerSecond;
      if (tokens >= this.options.burst) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(key);
    }
  }
}
