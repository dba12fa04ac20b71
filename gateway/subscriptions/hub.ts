/**
 * Fan-out of federated subscriptions, three levels deep:
 *
 *   upstream stream   one per distinct primary operation + variables (subgraph, query, vars)
 *   └ selection group one per distinct client operation + variables: `rest` runs once per event here,
 *     │               and the result is serialised once per event here (`encode`)
 *     └ client        a transport that takes those bytes (`write`); it bounds what its client has
 *                     not read and cuts a slow one off, which ends that client only
 *
 * The upstream stream starts with its first client and ends when its last client leaves.
 * Events are resolved in order per group (a chain of promises) and delivered in that order;
 * delivery does not hold up the next resolution, and the events resolved while a delivery
 * ran go out together in the next one (one write per socket for all of them). A group that
 * falls more than `maxPendingEvents` behind (resolving or delivering) fails its clients
 * instead of queueing without limit.
 */
import type { ExecutionResult, FormattedExecutionResult } from 'graphql';
import { Channel } from '../../lib/channel.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter, gauge, histogram } from '../../lib/metrics.ts';
import { gatewayError } from '../errors.ts';
import type { SubscriptionPlan, UpstreamOperation } from './planner.ts';

export const hubMetrics = {
  clients: gauge('tickcast_gateway_subscriptions_active', 'Client subscriptions open on the gateway'),
  upstreams: gauge('tickcast_gateway_subscription_upstreams_active', 'Subscriptions the gateway holds on subgraphs', [
    'subgraph',
  ]),
  groups: gauge(
    'tickcast_gateway_subscription_groups_active',
    'Distinct client operations being resolved (entity fetches run once per event per group)',
  ),
  upstreamEvents: counter('tickcast_gateway_subscription_upstream_events_total', 'Events received from subgraphs', [
    'subgraph',
  ]),
  delivered: counter('tickcast_gateway_subscription_events_total', 'Events handed to client subscriptions'),
  lagSeconds: histogram(
    'tickcast_gateway_subscription_delivery_lag_seconds',
    'From an event reaching the gateway to its hand-over to a client socket',
    [],
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
  ),
  resolveSeconds: histogram(
    'tickcast_gateway_subscription_resolve_seconds',
    'Time to resolve one event for one selection group (the `rest` of the plan)',
    [],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  ),
  dropped: counter(
    'tickcast_gateway_subscription_clients_dropped_total',
    'Client subscriptions ended by the gateway, by reason',
    ['reason'],
  ),
};

export interface HubOptions {
  /** Events a selection group may have waiting for resolution before its clients are failed. */
  readonly maxPendingEvents: number;
  /** The context the per-event entity fetches run with (a read-only gateway principal). */
  readonly context: unknown;
  readonly logger: Logger;
  /**
   * Serialises a result for the clients' `write`: called once per event per group, however
   * many clients share the bytes.
   */
  readonly encode: (result: ExecutionResult) => Buffer;
}

/** How the hub reaches the subgraphs (upstream.ts in production, a fake in unit tests). */
export interface Upstream {
  subscribe(
    operation: UpstreamOperation,
    sink: {
      next(value: FormattedExecutionResult): void;
      error(error: unknown): void;
      complete(): void;
    },
  ): () => void;
}

export interface ClientSubscription {
  /** Distinct client operation: normalized document, operation name and variables. */
  readonly selectionKey: string;
  /** Plans the operation; called only when no group for `selectionKey` exists yet. */
  plan(): SubscriptionPlan;
  /** The subscription ended, however it ended. */
  onEnd?(): void;
  /**
   * Writes events, in order, each serialised by `HubOptions.encode` (the same Buffers for
   * every client of the selection), to the client's transport, which bounds what its client
   * has not read. Events do not go through the iterator `subscribe` returns: it only ends (or
   * fails) the subscription.
   */
  write(encoded: readonly Buffer[]): void;
}

interface Client {
  /** Never carries a value: it ends or fails the subscription, and its closing removes the client. */
  readonly channel: Channel<ExecutionResult>;
  readonly write: (encoded: readonly Buffer[]) => void;
}

/** A resolved event waiting for delivery. */
interface Resolved {
  readonly result: ExecutionResult;
  /** When the event reached the gateway (ms). */
  readonly receivedAt: number;
}

interface Group {
  readonly key: string;
  readonly plan: SubscriptionPlan;
  readonly stream: Stream;
  readonly clients: Set<Client>;
  /** Resolutions, chained in event order. */
  tail: Promise<void>;
  /** Resolved events in order, waiting for the delivery under way to finish. */
  readonly ready: Resolved[];
  delivering: boolean;
  /** Events received and not yet delivered. */
  pending: number;
}

interface Stream {
  readonly key: string;
  readonly operation: UpstreamOperation;
  readonly groups: Map<string, Group>;
  stop: () => void;
}

/** Clients served between two turns of the event loop. */
const DELIVERY_SLICE = 500;

const streamKey = (op: UpstreamOperation): string =>
  JSON.stringify([op.subgraph, op.query, Object.entries(op.variables).sort(([a], [b]) => a.localeCompare(b))]);

export class SubscriptionHub {
  private readonly streams = new Map<string, Stream>();
  /** Every group, by selection key (each also sits in its stream's `groups`). */
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly upstream: Upstream,
    private readonly options: HubOptions,
  ) {}

  /** Counts, for tests. */
  get stats(): { streams: number; groups: number; clients: number } {
    let groups = 0;
    let clients = 0;
    for (const stream of this.streams.values()) {
      groups += stream.groups.size;
      for (const group of stream.groups.values()) clients += group.clients.size;
    }
    return { streams: this.streams.size, groups, clients };
  }

  subscribe(request: ClientSubscription): AsyncIterableIterator<ExecutionResult> {
    const group = this.groupFor(request);
    const client: Client = {
      write: request.write.bind(request),
      // Capacity 0: nothing is ever pushed (events go to `write`).
      channel: new Channel<ExecutionResult>(0, () => {
        this.leave(group, client);
        request.onEnd?.();
      }),
    };
    group.clients.add(client);
    hubMetrics.clients.inc();
    return client.channel;
  }

  /** Tells every client of `subgraph`'s streams that it is unreachable; their streams stay open for its return. */
  subgraphUnavailable(subgraph: string): void {
    const result: ExecutionResult = {
      errors: [
        gatewayError('SUBGRAPH_UNAVAILABLE', `subgraph "${subgraph}" is unavailable; reconnecting`, {
          extensions: { serviceName: subgraph, reason: 'unreachable' },
        }),
      ],
    };
    const at = Date.now();
    for (const stream of this.streams.values()) {
      if (stream.operation.subgraph !== subgraph) continue;
      for (const group of stream.groups.values()) {
        group.pending++;
        group.tail = group.tail.then(() => this.enqueue(group, { result, receivedAt: at }));
      }
    }
  }

  /** Completes every client subscription (graceful shutdown) and ends the upstream streams. */
  completeAll(): void {
    for (const stream of [...this.streams.values()]) {
      for (const group of [...stream.groups.values()]) for (const client of [...group.clients]) client.channel.close();
    }
  }

  private groupFor(request: ClientSubscription): Group {
    const existing = this.groups.get(request.selectionKey);
    if (existing) return existing;
    const plan = request.plan();
    const stream = this.streamFor(plan.upstream);
    const group: Group = {
      key: request.selectionKey,
      plan,
      stream,
      clients: new Set(),
      tail: Promise.resolve(),
      ready: [],
      delivering: false,
      pending: 0,
    };
    stream.groups.set(group.key, group);
    this.groups.set(group.key, group);
    hubMetrics.groups.inc();
    return group;
  }

  private streamFor(operation: UpstreamOperation): Stream {
    const key = streamKey(operation);
    const existing = this.streams.get(key);
    if (existing) return existing;
    const stream: Stream = { key, operation, groups: new Map(), stop: () => undefined };
    this.streams.set(key, stream);
    hubMetrics.upstreams.inc({ subgraph: operation.subgraph });
    stream.stop = this.upstream.subscribe(operation, {
      next: (event) => {
        const receivedAt = Date.now();
        hubMetrics.upstreamEvents.inc({ subgraph: operation.subgraph });
        for (const group of stream.groups.values()) this.resolve(group, event, receivedAt);
      },
      error: (error) => {
        this.options.logger.warn({ err: error, subgraph: operation.subgraph }, 'upstream subscription failed');
        const failure = gatewayError(
          'SUBGRAPH_UNAVAILABLE',
          `subgraph "${operation.subgraph}" ended the subscription`,
          {
            extensions: { serviceName: operation.subgraph, reason: 'upstream_error' },
          },
        );
        this.endStream(stream, (client) => client.channel.fail(failure));
      },
      complete: () => this.endStream(stream, (client) => client.channel.close()),
    });
    return stream;
  }

  /** Resolves `event` for one group, in order after the group's previous events. */
  private resolve(group: Group, event: FormattedExecutionResult, receivedAt: number): void {
    if (group.pending >= this.options.maxPendingEvents) {
      hubMetrics.dropped.inc({ reason: 'resolution_backlog' }, group.clients.size);
      const failure = gatewayError('SUBGRAPH_UNAVAILABLE', 'entity resolution fell too far behind the event stream', {
        extensions: { reason: 'resolution_backlog' },
      });
      for (const client of [...group.clients]) client.channel.fail(failure);
      return;
    }
    group.pending++;
    group.tail = group.tail.then(async () => {
      const stopTimer = group.plan.federated ? hubMetrics.resolveSeconds.startTimer() : undefined;
      let result: ExecutionResult;
      try {
        result = await group.plan.resolve(event, this.options.context);
      } catch (error) {
        this.options.logger.error({ err: error }, 'subscription event resolution failed');
        result = { errors: [gatewayError('SUBGRAPH_UNAVAILABLE', 'the event could not be resolved')] };
      } finally {
        stopTimer?.();
      }
      this.enqueue(group, { result, receivedAt });
    });
  }

  /** Queues a resolved event for delivery, and starts delivering if no delivery is under way. */
  private enqueue(group: Group, resolved: Resolved): void {
    group.ready.push(resolved);
    if (group.delivering) return;
    group.delivering = true;
    void this.drain(group);
  }

  /** Delivers the ready events, all of them in each pass, until none is left. */
  private async drain(group: Group): Promise<void> {
    try {
      while (group.ready.length > 0) {
        const batch = group.ready.splice(0);
        try {
          await this.deliver(group, batch);
        } finally {
          group.pending -= batch.length;
        }
      }
    } finally {
      group.delivering = false;
    }
  }

  /**
   * Hands the events, in order, to every client of the group: the bytes, serialised once per
   * event, all the events in one write. A large group is served in slices with a macrotask
   * between them, so HTTP requests and other sockets are not starved meanwhile.
   */
  private async deliver(group: Group, batch: readonly Resolved[]): Promise<void> {
    const clients = [...group.clients];
    let encoded: Buffer[] | undefined;
    for (let start = 0; start < clients.length; start += DELIVERY_SLICE) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      const end = Math.min(clients.length, start + DELIVERY_SLICE);
      let written = 0;
      for (let i = start; i < end; i++) {
        const client = clients[i]!;
        // Left the group since the copy was taken (during this delivery, e.g. between slices).
        if (client.channel.isClosed) continue;
        encoded ??= batch.map(({ result }) => this.options.encode(result));
        client.write(encoded);
        written++;
      }
      if (written > 0) {
        // Every write of a slice happened within the same millisecond or so: one observation per event and client.
        const now = Date.now();
        for (const { receivedAt } of batch) {
          const lag = (now - receivedAt) / 1000;
          for (let n = 0; n < written; n++) hubMetrics.lagSeconds.observe(lag);
        }
      }
      hubMetrics.delivered.inc(written * batch.length);
    }
  }

  private leave(group: Group, client: Client): void {
    if (!group.clients.delete(client)) return;
    hubMetrics.clients.dec();
    if (group.clients.size > 0 || this.groups.get(group.key) !== group) return;
    this.groups.delete(group.key);
    hubMetrics.groups.dec();
    group.stream.groups.delete(group.key);
    if (group.stream.groups.size === 0) this.stopStream(group.stream);
  }

  private endStream(stream: Stream, end: (client: Client) => void): void {
    for (const group of [...stream.groups.values()]) for (const client of [...group.clients]) end(client);
    this.stopStream(stream);
  }

  private stopStream(stream: Stream): void {
    if (this.streams.get(stream.key) !== stream) return;
    this.streams.delete(stream.key);
    hubMetrics.upstreams.dec({ subgraph: stream.operation.subgraph });
    stream.stop();
  }
}
