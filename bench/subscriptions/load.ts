/**
 * The subscriptions benchmark's load generator: a child process holding a `ClientPool` of
 * subscribers (one graphql-ws socket each) that records each timed event's latency in a
 * histogram, and the parent's side of its IPC messages (`ask`, `allStats`, `waitQuiet`). The
 * direct probe, in the parent, is a `ClientPool` of one.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, serveRequests, type Child } from './children.ts';
import { SubscriberSockets, type SocketStats, type SubscriptionResult } from './sockets.ts';
import { PAIR, PRICE } from './workload.ts';

/** This module's path: the load generator children run it. */
export const LOAD_SCRIPT = fileURLToPath(import.meta.url);
/** Latency histogram: 1 ms buckets; the last one holds everything slower. */
const HISTOGRAM_MS = 120_000;

export interface ConnectSpec {
  readonly url: string;
  readonly query: string;
  readonly count: number;
  /** Source address of the client sockets (a fresh one per run keeps TIME_WAIT ports from running out). */
  readonly localAddress: string;
  /** Event ids starting with `warm` mark warm-up events; with `timed`, the measured ones. */
  readonly warm: string;
  readonly timed: string;
  readonly federated: boolean;
}

export interface ClientStats extends SocketStats {
  readonly clients: number;
  readonly warmed: number;
  readonly received: number;
  /** Every event received, warm-up ones included: progress while draining. */
  readonly events: number;
  readonly wrong: number;
  readonly cpuMs: number;
  readonly lastReceiptAt: number;
}

export interface ClientReport extends ClientStats {
  /** [latency ms, count] pairs of the timed events. */
  readonly histogram: [number, number][];
  /** Fewest and most timed events one client received; null for a pool without clients. */
  readonly minPerClient: number | null;
  readonly maxPerClient: number | null;
}

type Message =
  | { type: 'connect'; spec: ConnectSpec }
  | { type: 'status' }
  | { type: 'stats'; stats: ClientStats }
  | { type: 'collect' }
  | { type: 'report'; report: ClientReport }
  | { type: 'disconnect' }
  | { type: 'disconnected' }
  | { type: 'error'; message: string };

export class ClientPool {
  private readonly sockets: SubscriberSockets;
  private received = new Uint32Array(0);
  private warmed = new Uint8Array(0);
  private readonly histogram = new Uint32Array(HISTOGRAM_MS + 1);
  private wrong = 0;
  private total = 0;
  private events = 0;
  private lastReceiptAt = 0;

  constructor(private readonly spec: ConnectSpec) {
    this.sockets = new SubscriberSockets({ ...spec, query: () => spec.query }, (index, result, now) =>
      this.onResult(index, result, now),
    );
  }

  async connect(): Promise<void> {
    this.received = new Uint32Array(this.spec.count);
    this.warmed = new Uint8Array(this.spec.count);
    await this.sockets.connect();
  }

  private onResult(index: number, result: SubscriptionResult, now: number): void {
    const prediction = result.data?.['predictionCreated'] as Record<string, unknown> | null | undefined;
    if (!prediction) return;
    const id = String(prediction['id']);
    this.events++;
    if (id.startsWith(this.spec.warm)) {
      this.warmed[index] = 1;
      return;
    }
    if (!id.startsWith(this.spec.timed)) return;
    const latency = now - Date.parse(String(prediction['madeAt']));
    this.histogram[Math.min(HISTOGRAM_MS, Math.max(0, latency))]!++;
    this.received[index]!++;
    this.total++;
    this.lastReceiptAt = now;
    if (this.spec.federated) {
      const market = prediction['market'] as { pair?: string; lastTrade?: { price?: number } | null } | null;
      if (market?.pair !== PAIR || market.lastTrade?.price !== PRICE) {
        this.wrong++;
        this.sockets.problem(`incomplete event: ${JSON.stringify(prediction).slice(0, 500)}`);
      }
    }
  }

  stats(): ClientStats {
    let warmed = 0;
    for (const w of this.warmed) warmed += w;
    const cpu = process.cpuUsage();
    return {
      ...this.sockets.stats(),
      clients: this.spec.count,
      warmed,
      received: this.total,
      events: this.events,
      wrong: this.wrong,
      cpuMs: (cpu.user + cpu.system) / 1000,
      lastReceiptAt: this.lastReceiptAt,
    };
  }

  report(): ClientReport {
    const histogram: [number, number][] = [];
    this.histogram.forEach((count, ms) => {
      if (count > 0) histogram.push([ms, count]);
    });
    // With fewer clients than load generators a pool can be empty: it has no fewest (not 0).
    let min: number | null = null;
    let max: number | null = null;
    for (const r of this.received) {
      min = Math.min(min ?? r, r);
      max = Math.max(max ?? r, r);
    }
    return { ...this.stats(), histogram, minPerClient: min, maxPerClient: max };
  }

  disconnect(): Promise<void> {
    return this.sockets.disconnect();
  }
}

function serveLoad(): void {
  let pool: ClientPool | undefined;
  serveRequests<Message>((message) => {
    if (message.type === 'connect') {
      const connecting = new ClientPool(message.spec);
      pool = connecting;
      return connecting.connect().then(() => ({ type: 'stats', stats: connecting.stats() }));
    } else if (message.type === 'status') {
      return { type: 'stats', stats: pool!.stats() };
    } else if (message.type === 'collect') {
      return { type: 'report', report: pool!.report() };
    } else if (message.type === 'disconnect') {
      const done = pool?.disconnect() ?? Promise.resolve();
      pool = undefined;
      return done.then(() => ({ type: 'disconnected' }));
    }
    return undefined;
  });
}

/** `request` over the load generator's messages. */
export const ask = <T extends Message['type']>(child: Child, message: Message, type: T, timeoutMs: number) =>
  request<Message, T>(child, message, type, timeoutMs);

export async function allStats(loads: readonly Child[]): Promise<ClientStats[]> {
  return Promise.all(loads.map(async (load) => (await ask(load, { type: 'status' }, 'stats', 30_000)).stats));
}

/** Until `done`, or no event reached any client for `quietMs`, or `maxMs` passed. */
export async function waitQuiet(
  loads: readonly Child[],
  quietMs: number,
  maxMs: number,
  done: (stats: ClientStats[]) => boolean,
): Promise<void> {
  const started = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    await sleep(250);
    const stats = await allStats(loads);
    const events = stats.reduce((n, s) => n + s.events, 0);
    if (events !== last) {
      last = events;
      lastChange = Date.now();
    }
    if (done(stats) || Date.now() - lastChange > quietMs || Date.now() - started > maxMs) return;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) serveLoad();
