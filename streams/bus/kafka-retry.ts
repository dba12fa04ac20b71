/**
 * Retries for the few admin calls kafkajs gives up on too early. `admin.fetchTopicOffsets`
 * retries only UNKNOWN_TOPIC_OR_PARTITION and bails on NOT_LEADER_FOR_PARTITION, which a
 * KRaft broker answers for a while after a topic is created or a leader moves; kafkajs marks
 * that error retriable, so a fresh call (with fresh metadata) succeeds once the leader is in place.
 */

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly attempts?: number;
  /** The wait after the first failure; each next wait is this times the attempt number. */
  readonly backoffMs?: number;
}

/** Calls `call` again while it fails with an error kafkajs marks `retriable`, up to `attempts` times (about 9 s by default). */
export async function retryingRetriable<T>(
  call: () => Promise<T>,
  { attempts = 10, backoffMs = 200 }: RetryOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || !isRetriable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoffMs * attempt));
    }
  }
}

function isRetriable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}
