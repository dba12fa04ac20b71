/** Retry timing: capped exponential backoff with jitter (sources, stores, the LLM client, the gateway). */

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialDelayMs: number;
  /** Upper bound for any single delay. */
  maxDelayMs: number;
  /** Growth factor per attempt. */
  multiplier: number;
  /**
   * Fraction of the delay that is randomised, 0..1. With 0.5 a 1000 ms step waits
   * between 500 and 1000 ms, so many clients dropped at once do not return in lockstep.
   */
  jitter: number;
}

/** Delay before retry number `attempt` (0-based): min(max, initial * multiplier^attempt), jittered down. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** Math.max(0, attempt));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(base * (1 - jitter + jitter * r)));
}

/** Waits `ms`, or less if `signal` aborts first. Never rejects; callers check `signal.aborted`. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
