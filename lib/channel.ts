/**
 * A bounded, single-reader async queue: producers `push` without waiting, the reader pulls
 * with `for await`. When more than `capacity` values wait, the channel fails with
 * `ChannelOverflow` instead of growing: a consumer that cannot keep up is cut off, and the
 * producer (a feed shared by many readers) never slows down for one of them.
 */

export class ChannelOverflow extends Error {
  constructor(readonly capacity: number) {
    super(`more than ${capacity} values waiting: the reader is too slow`);
    this.name = 'ChannelOverflow';
  }
}

export interface ChannelOptions {
  /** Runs once, however the channel ends: closed, failed, overflowed or abandoned by its reader. */
  readonly onClose?: () => void;
  /** Called as the reader takes a value, with how long it waited since its `at`. */
  readonly onTake?: (waitedMs: number) => void;
}

type Waiter<T> = (result: IteratorResult<T>) => void;

export class Channel<T> implements AsyncIterableIterator<T> {
  /** Waiting values with when each was produced (ms). */
  private readonly queue: { readonly value: T; readonly at: number }[] = [];
  private waiter: { resolve: Waiter<T>; reject: (error: unknown) => void } | undefined;
  private closed = false;
  private failure: unknown;
  private readonly options: ChannelOptions;

  constructor(
    readonly capacity: number,
    options: ChannelOptions | (() => void) = {},
  ) {
    this.options = typeof options === 'function' ? { onClose: options } : options;
  }

  /** Values waiting for the reader. */
  get size(): number {
    return this.queue.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the channel overflowed, if that is how it ended. */
  get overflow(): ChannelOverflow | undefined {
    return this.failure instanceof ChannelOverflow ? this.failure : undefined;
  }

  /**
   * Queues a value produced at `at` (ms, default now); false when the channel is closed
   * (the value is dropped). Overflow fails the channel.
   */
  push(value: T, at: number = Date.now()): boolean {
    if (this.closed) return false;
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      this.options.onTake?.(Date.now() - at);
      resolve({ value, done: false });
      return true;
    }
    if (this.queue.length >= this.capacity) {
      this.fail(new ChannelOverflow(this.capacity));
      return false;
    }
    this.queue.push({ value, at });
    return true;
  }

  /** Ends the stream after the values already queued. */
  close(): void {
    this.end(undefined);
  }

  /** Ends the stream with an error; queued values are discarded. */
  fail(error: unknown): void {
    this.queue.length = 0;
    this.end(error ?? new Error('channel failed'));
  }

  next(): Promise<IteratorResult<T>> {
    const next = this.queue.shift();
    if (next) {
      this.options.onTake?.(Date.now() - next.at);
      return Promise.resolve({ value: next.value, done: false });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The reader left (`break`, or graphql-ws completing the operation). */
  return(): Promise<IteratorResult<T>> {
    this.queue.length = 0;
    this.end(undefined);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private end(error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) {
      if (error !== undefined) waiter.reject(error);
      else waiter.resolve({ value: undefined, done: true });
    }
    this.options.onClose?.();
  }
}
