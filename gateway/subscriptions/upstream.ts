/**
 * The gateway's graphql-ws connections to the subgraphs: one multiplexed socket per
 * subgraph, opened on the first subscription and closed with the last (lazy), reconnected
 * with capped exponential backoff and jitter, subscriptions re-sent after a reconnect
 * (graphql-ws does that for operations still active). A subgraph that stays down longer
 * than `graceMs` is reported through `onUnavailable`, its return through `onRecovered`.
 */
import { createClient, type Client, type Sink } from 'graphql-ws';
import type { FormattedExecutionResult } from 'graphql';
import WebSocket from 'ws';
import { backoffDelay, sleep, type BackoffPolicy } from '../../lib/backoff.ts';
import { signConnectionParams } from '../../lib/internal-signature.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter, gauge } from '../../lib/metrics.ts';
import type { UpstreamOperation } from './planner.ts';

const upstreamSockets = gauge(
  'tickcast_gateway_subscription_upstream_connected',
  '1 while the gateway holds an open graphql-ws socket to the subgraph',
  ['subgraph'],
);
const upstreamReconnects = counter(
  'tickcast_gateway_subscription_upstream_reconnects_total',
  'graphql-ws connections to a subgraph re-established after a loss',
  ['subgraph'],
);

export interface UpstreamOptions {
  /** graphql-ws URL per subgraph name. */
  readonly urls: Readonly<Record<string, string>>;
  /**
   * Secret per subgraph name (GatewayConfig.subgraphs[name].signingSecret) that signs the
   * connection_init payload; a subgraph without one gets unsigned (public scope) params.
   */
  readonly signingSecrets?: Readonly<Record<string, string | undefined>>;
  /** How long a subgraph may be unreachable before its subscribers are told. */
  readonly graceMs: number;
  /** Longest wait between reconnect attempts. */
  readonly maxBackoffMs: number;
  readonly logger: Logger;
  onUnavailable(subgraph: string): void;
  onRecovered(subgraph: string): void;
}

/** ws(s):// URL of a subgraph's http(s):// GraphQL URL (same path). */
export function webSocketUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/i, 'ws');
}

/** Reconnect timing: doubling from 100 ms up to `maxMs`, jittered over the upper half. */
export function reconnectPolicy(maxMs: number): BackoffPolicy {
  return { initialDelayMs: 100, maxDelayMs: maxMs, multiplier: 2, jitter: 0.5 };
}

class SubgraphConnection {
  readonly client: Client;
  private downTimer: NodeJS.Timeout | undefined;
  private reportedDown = false;
  private everConnected = false;

  constructor(
    readonly subgraph: string,
    url: string,
    private readonly options: UpstreamOptions,
  ) {
    const log = options.logger.child({ subgraph });
    const secret = options.signingSecrets?.[subgraph];
    // The gateway checked the client's scopes; subgraph subscriptions need `read`.
    const claims = { principal: 'gateway-subscriptions', scopes: ['read'] };
    this.client = createClient({
      url,
      webSocketImpl: WebSocket,
      lazy: true,
      lazyCloseTimeout: 0,
      // A function: every (re)connection gets a fresh timestamp and nonce. Unsigned scopes
      // would be ignored, so without a secret none are sent.
      ...(secret ? { connectionParams: () => signConnectionParams(secret, claims) } : {}),
      keepAlive: 10_000,
      retryAttempts: Number.MAX_SAFE_INTEGER,
      shouldRetry: () => true,
      retryWait: (retries) => sleep(backoffDelay(retries, reconnectPolicy(options.maxBackoffMs))),
    });
    this.client.on('connected', () => {
      upstreamSockets.set({ subgraph }, 1);
      if (this.everConnected) upstreamReconnects.inc({ subgraph });
      this.everConnected = true;
      clearTimeout(this.downTimer);
      this.downTimer = undefined;
      if (this.reportedDown) {
        this.reportedDown = false;
        log.info('subgraph subscriptions reconnected');
        options.onRecovered(subgraph);
      }
    });
    this.client.on('closed', (event) => {
      upstreamSockets.set({ subgraph }, 0);
      const code = (event as { code?: number }).code;
      // 1000 is the lazy close after the last subscription; anything else is a loss.
      if (code === 1000 || this.downTimer) return;
      log.warn({ code }, 'subgraph subscription socket lost; reconnecting');
      this.downTimer = setTimeout(() => {
        this.reportedDown = true;
        options.onUnavailable(subgraph);
      }, options.graceMs);
    });
  }

  dispose(): void {
    clearTimeout(this.downTimer);
    // graphql-ws's dispose waits for a connection attempt under way and rejects with its close
    // event when that attempt is abandoned (the subgraph is down and no subscription is left):
    // nothing to close then, and an unhandled rejection would fail the gateway's shutdown.
    void Promise.resolve(this.client.dispose()).catch(() => undefined);
  }
}

export class UpstreamConnections {
  private readonly connections = new Map<string, SubgraphConnection>();

  constructor(private readonly options: UpstreamOptions) {}

  /** Starts the operation on its subgraph; the returned function ends it (the socket closes with the last one). */
  subscribe(operation: UpstreamOperation, sink: Sink<FormattedExecutionResult>): () => void {
    return this.connection(operation.subgraph).client.subscribe(
      { query: operation.query, variables: { ...operation.variables } },
      sink,
    );
  }

  dispose(): void {
    for (const connection of this.connections.values()) connection.dispose();
    this.connections.clear();
  }

  private connection(subgraph: string): SubgraphConnection {
    let connection = this.connections.get(subgraph);
    if (!connection) {
      const url = this.options.urls[subgraph];
      if (!url) throw new Error(`no URL configured for subgraph "${subgraph}"`);
      connection = new SubgraphConnection(subgraph, webSocketUrl(url), this.options);
      this.connections.set(subgraph, connection);
    }
    return connection;
  }
}
