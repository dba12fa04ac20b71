/**
 * graphql-ws subscribers, one socket each, and the counts every pool of them reports: the
 * clients of the subscriptions benchmark's load generators and of the soak's.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** Clients that open their socket at the same time while connecting. */
const CONNECT_CONCURRENCY = 250;

/** What a server sent for one subscription: the result of one event. */
export interface SubscriptionResult {
  readonly data?: Record<string, unknown> | null | undefined;
  readonly errors?: readonly unknown[] | undefined;
}

/** Counts every subscriber pool reports, whatever it checks in the events. */
export interface SocketStats {
  readonly connected: number;
  readonly connectFailures: number;
  /** Subscription errors and results carrying errors. */
  readonly errors: number;
  readonly firstProblem: string | null;
  /** Close codes of sockets that closed after connecting, before the run ended them. */
  readonly closes: Record<string, number>;
}

/**
 * `count` graphql-ws clients, one socket each, subscribed to `query(index)`; every result goes
 * to `onResult` with its receipt time. Used by the subscriptions and the soak benchmarks.
 */
export class SubscriberSockets {
  private readonly clients: Client[] = [];
  private connected = 0;
  private connectFailures = 0;
  private errors = 0;
  private firstProblem: string | null = null;
  private readonly closes: Record<string, number> = {};
  private ending = false;

  constructor(
    private readonly spec: {
      readonly url: string;
      readonly count: number;
      /** Source address of the client sockets (a fresh one per run keeps TIME_WAIT ports from running out). */
      readonly localAddress: string;
      readonly query: (index: number) => string;
    },
    private readonly onResult: (index: number, result: SubscriptionResult, receivedAt: number) => void,
  ) {}

  async connect(): Promise<void> {
    const { spec } = this;
    const localAddress = spec.localAddress;
    class BoundSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { localAddress, perMessageDeflate: false });
      }
    }
    for (let start = 0; start < spec.count; start += CONNECT_CONCURRENCY) {
      const batch = [];
      for (let i = start; i < Math.min(spec.count, start + CONNECT_CONCURRENCY); i++)
        batch.push(this.open(i, BoundSocket));
      await Promise.all(batch);
    }
  }

  private open(index: number, socket: unknown): Promise<void> {
    return new Promise((resolve) => {
      let connected = false;
      const client = createClient({
        url: this.spec.url,
        webSocketImpl: socket,
        lazy: true,
        lazyCloseTimeout: 0,
        retryAttempts: 0,
        on: {
          connected: () => {
            connected = true;
            this.connected++;
            resolve();
          },
          closed: (event) => {
            const code = String((event as { code?: number }).code ?? 'error');
            if (!connected) {
              this.connectFailures++;
              this.problem(`connect failed: close ${code} ${String((event as { reason?: string }).reason ?? '')}`);
              resolve();
            } else if (!this.ending) {
              this.closes[code] = (this.closes[code] ?? 0) + 1;
            }
          },
        },
      });
      this.clients.push(client);
      client.subscribe<Record<string, unknown>>(
        { query: this.spec.query(index) },
        {
          next: (result) => {
            const now = Date.now();
            if (result.errors?.length) {
              this.errors++;
              this.problem(`error result: ${JSON.stringify(result.errors).slice(0, 500)}`);
            }
            this.onResult(index, result, now);
          },
          error: (error) => {
            if (this.ending) return;
            this.errors++;
            this.problem(`subscription error: ${describe(error)}`);
          },
          complete: () => {
            if (!this.ending) this.problem('the server completed a subscription');
          },
        },
      );
    });
  }

  problem(text: string): void {
    this.firstProblem ??= text;
  }

  stats(): SocketStats {
    return {
      connected: this.connected,
      connectFailures: this.connectFailures,
      errors: this.errors,
      firstProblem: this.firstProblem,
      closes: { ...this.closes },
    };
  }

  async disconnect(): Promise<void> {
    this.ending = true;
    await Promise.all(this.clients.map((client) => client.dispose()));
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  const close = error as { code?: unknown; reason?: unknown };
  if (close && typeof close === 'object' && 'code' in close)
    return `close ${String(close.code)} ${String(close.reason)}`;
  return JSON.stringify(error).slice(0, 500);
}
