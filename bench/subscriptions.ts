/**
 * Event-to-client latency, delivered events/s and memory of one gateway process serving
 * 1,000 / 5,000 / 10,000 graphql-ws subscribers, for tickcast's gateway and, in the same
 * run, Hive Gateway over the same subgraph processes, the same Kafka topic and the same
 * event stream.
 *
 * Processes: this one creates a fresh PostgreSQL schema and Kafka namespace, publishes
 * the Prediction events and samples every child's memory and CPU from /proc; two children
 * are the real `tickcast subgraph predictions` and `tickcast subgraph markets` (Kafka live
 * feed, PostgreSQL); one child is the gateway under test (`tickcast gateway`, or Hive
 * Gateway's runtime with its graphql-ws server wired as its CLI does), started fresh for
 * every client count so its peak RSS belongs to that count; the clients live in load
 * generator children (graphql-ws client over `ws`, one socket per client). One gateway at
 * a time.
 *
 * A run: connect every client and subscribe; publish a warm-up event every 2 s until
 * every client has received one (the upstream subscriptions exist, every client is
 * subscribed), and wait until the gateway has delivered the rest of them; then publish
 * `rate` events/s for `seconds`, each with `madeAt` = wall time at publish. Every client
 * records receive time − madeAt (ms, same machine clock), so the latency includes Kafka and
 * the subgraph; one extra client subscribed directly to the predictions subgraph shows that
 * floor. The drain ends when every client has every event, nothing arrived for 5 s, or 60 s
 * after the last publish; missing = events published × clients − events received by then.
 * While timed, `{ __typename }` goes to the gateway over HTTP every 200 ms: its latency
 * shows whether fan-out starves the gateway's event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import pg from 'pg';
import WebSocket, { WebSocketServer } from 'ws';
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import { predictionSchema, type Prediction, type Trade } from '../schema/events.ts';
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs.ts';
import { TOPICS } from '../schema/topics.ts';
import { createBus, openFeatureStore } from '../streams/runtime.ts';
import { insertTrades } from '../streams/store/feature-store.ts';
import { freePort } from '../test/support/ports.ts';
import { deleteTopics } from '../test/support/services.ts';
import { composeWithUrls } from './supergraph.ts';

const PAIR = 'BTC/USD';
const PRICE = 28_000.5;
const DEFAULT_CLIENTS = [1_000, 5_000, 10_000];
const LOAD_PROCESSES = Number(process.env['BENCH_LOAD_PROCESSES'] ?? 2);
/** Clients that open their socket at the same time while connecting. */
const CONNECT_CONCURRENCY = 250;
const WARMUP_TIMEOUT_MS = 90_000;
/** A warm-up event every this often: few enough that a slow gateway is not left with a backlog. */
const WARMUP_INTERVAL_MS = 2_000;
/** After warm-up, timing starts once no event arrived for this long (the gateway is idle), or after the maximum. */
const SETTLE_QUIET_MS = 2_000;
const SETTLE_MAX_MS = 60_000;
/** The gateway's HTTP endpoint is asked `{ __typename }` this often while timed: do subscriptions starve queries? */
const QUERY_PROBE_INTERVAL_MS = 200;
/** The drain ends when every event reached every client, or nothing arrived for this long. */
const DRAIN_QUIET_MS = 5_000;
const DRAIN_MAX_MS = 60_000;
/** Latency histogram: 1 ms buckets; the last one holds everything slower. */
const HISTOGRAM_MS = 120_000;

const repoFile = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const TSX_LOADER = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

const OPERATIONS = {
  /** The dashboard's live feed: the prediction (predictions subgraph) and its market's last trade (markets). */
  federated:
    `subscription { predictionCreated(pair: "${PAIR}") { id madeAt predictedPrice lowerBound upperBound ` +
    `market { pair lastTrade { price } } } }`,
  /** The same without the cross-subgraph field: fan-out alone, no entity fetch per event. */
  primary: `subscription { predictionCreated(pair: "${PAIR}") { id madeAt predictedPrice lowerBound upperBound } }`,
} as const;
type OperationName = keyof typeof OPERATIONS;
const PROBE_OPERATION = `subscription { predictionCreated(pair: "${PAIR}") { id madeAt } }`;

export interface SubscriptionBenchFlags {
  readonly clients?: string | undefined;
  readonly seconds?: string | undefined;
  readonly rate?: string | undefined;
  readonly operation?: string | undefined;
}

// ---- messages between this process and the load generators

interface ConnectSpec {
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

interface ClientStats extends SocketStats {
  readonly clients: number;
  readonly warmed: number;
  readonly received: number;
  /** Every event received, warm-up ones included: progress while draining. */
  readonly events: number;
  readonly wrong: number;
  readonly cpuMs: number;
  readonly lastReceiptAt: number;
}

interface ClientReport extends ClientStats {
  /** [latency ms, count] pairs of the timed events. */
  readonly histogram: [number, number][];
  /** Fewest and most timed events one client received. */
  readonly minPerClient: number;
  readonly maxPerClient: number;
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

// ---- the clients (a load generator child, and the direct probe in this process)

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

class ClientPool {
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
    let min = Infinity;
    let max = 0;
    for (const r of this.received) {
      min = Math.min(min, r);
      max = Math.max(max, r);
    }
    return { ...this.stats(), histogram, minPerClient: min === Infinity ? 0 : min, maxPerClient: max };
  }

  disconnect(): Promise<void> {
    return this.sockets.disconnect();
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  const close = error as { code?: unknown; reason?: unknown };
  if (close && typeof close === 'object' && 'code' in close)
    return `close ${String(close.code)} ${String(close.reason)}`;
  return JSON.stringify(error).slice(0, 500);
}

function serveLoad(): void {
  let pool: ClientPool | undefined;
  const reply = (message: Message) => process.send?.(message);
  const failed = (error: unknown) => reply({ type: 'error', message: String((error as Error).stack ?? error) });
  process.on('message', (message: Message) => {
    if (message.type === 'connect') {
      pool = new ClientPool(message.spec);
      pool.connect().then(() => reply({ type: 'stats', stats: pool!.stats() }), failed);
    } else if (message.type === 'status') {
      reply({ type: 'stats', stats: pool!.stats() });
    } else if (message.type === 'collect') {
      reply({ type: 'report', report: pool!.report() });
    } else if (message.type === 'disconnect') {
      const done = pool?.disconnect() ?? Promise.resolve();
      pool = undefined;
      done.then(() => reply({ type: 'disconnected' }), failed);
    }
  });
  process.once('disconnect', () => process.exit(0));
}

// ---- Hive Gateway in a child process

const HIVE_GATEWAY = '@graphql-hive/gateway'; // a variable: its types break the project's (see bench/gateway.ts)
const WHATWG_SERVER = '@whatwg-node/server';

interface HiveRuntime {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly graphqlEndpoint: string;
  readonly fetchAPI: unknown;
  dispose(): Promise<void> | void;
}

/** Hive Gateway's runtime on node:http with graphql-ws on its endpoint, as its CLI (`hive-gateway`) serves it. */
async function serveHive(): Promise<void> {
  const supergraph = await readFile(process.env['BENCH_SUPERGRAPH']!, 'utf8');
  const port = Number(process.env['BENCH_PORT']);
  const hive = (await import(HIVE_GATEWAY)) as {
    createGatewayRuntime(config: Record<string, unknown>): HiveRuntime;
    getGraphQLWSOptions(
      runtime: HiveRuntime,
      context: (ctx: { extra: { request: IncomingMessage; socket: unknown } }) => Record<string, unknown>,
    ): Parameters<typeof useServer>[0];
  };
  const { normalizeNodeRequest } = (await import(WHATWG_SERVER)) as {
    normalizeNodeRequest(request: IncomingMessage, fetchAPI: unknown): unknown;
  };
  const runtime = hive.createGatewayRuntime({
    supergraph,
    logging: 'warn',
    landingPage: false,
    graphiql: false,
    // Subscriptions go to the subgraphs over graphql-ws; everything else over HTTP.
    transportEntries: { '*.http': { options: { subscriptions: { kind: 'ws' } } } },
  });
  const server = createServer(runtime);
  const wsServer = new WebSocketServer({ path: runtime.graphqlEndpoint, server });
  const ws = useServer(
    hive.getGraphQLWSOptions(runtime, (ctx) => ({
      req: ctx.extra.request,
      socket: ctx.extra.socket,
      request: normalizeNodeRequest(ctx.extra.request, runtime.fetchAPI),
    })),
    wsServer,
  );
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  process.once('SIGTERM', () => {
    void (async () => {
      await ws.dispose();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await runtime.dispose();
      process.exit(0);
    })();
  });
}

// ---- children

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  output(): string;
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/** A node child with a raised open-files limit (10,000 sockets); `exec` keeps the pid the node process's. */
export function startChild(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { ipc?: boolean; nodeFlags?: readonly string[] } = {},
): Child {
  const child = spawn(
    'bash',
    [
      '-c',
      'ulimit -n 65535 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"',
      name,
      process.execPath,
      '--enable-source-maps',
      ...(options.nodeFlags ?? []),
      '--import',
      TSX_LOADER,
      ...args,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])] },
  );
  let output = '';
  // BENCH_LOG_DIR keeps every child's whole output (evidence when a run goes wrong).
  const logDir = process.env['BENCH_LOG_DIR'];
  const file = logDir ? createWriteStream(join(logDir, `${name.replaceAll(' ', '-')}.log`), { flags: 'a' }) : undefined;
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
    file?.write(chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
  return { name, process: child, pid: child.pid!, output: () => output, exited };
}

export async function stopChild(child: Child, graceMs = 15_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Polls a GraphQL endpoint with `{ __typename }` until it answers 200, failing early if the child exits. */
export async function waitReady(child: Child, url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${child.name} exited during start-up:\n${child.output()}`);
    const ok = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ __typename }"}',
      signal: AbortSignal.timeout(2_000),
    }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${child.name} not ready after ${timeoutMs} ms:\n${child.output()}`);
    await sleep(250);
  }
}

/** Sends `message` to an IPC child and resolves with its first reply of `type` (a reply `{ type: 'error' }` rejects). */
export function request<M extends { type: string }, T extends M['type']>(
  child: Child,
  message: M,
  type: T,
  timeoutMs: number,
): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no "${type}" from ${child.name} in ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (reply: M | { type: 'error'; message: string }) => {
      if (reply.type === 'error' && 'message' in reply) done(new Error(`${child.name}: ${reply.message}`));
      else if (reply.type === type) done(undefined, reply as Extract<M, { type: T }>);
    };
    const onExit = () => done(new Error(`${child.name} exited:\n${child.output()}`));
    function done(error: Error | undefined, reply?: Extract<M, { type: T }>) {
      clearTimeout(timer);
      child.process.off('message', onMessage);
      child.process.off('exit', onExit);
      if (error) reject(error);
      else resolve(reply!);
    }
    child.process.on('message', onMessage);
    child.process.once('exit', onExit);
    child.process.send(message);
  });
}

/** `request` over this benchmark's messages. */
const ask = <T extends Message['type']>(child: Child, message: Message, type: T, timeoutMs: number) =>
  request<Message, T>(child, message, type, timeoutMs);

// ---- /proc and /metrics

export async function procStatus(pid: number): Promise<{ rssMb: number; hwmMb: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) the process has used. */
async function cpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Sums of the samples of each metric named, over labels (a label filter may follow the name: `name{reason="x"}`). */
export async function scrapeMetrics(port: number): Promise<Map<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })
    .then((r) => r.text())
    .catch(() => '');
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.length === 0) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const [, name, labels, value] = match;
    for (const key of new Set([name!, `${name}${labels ?? ''}`])) sums.set(key, (sums.get(key) ?? 0) + Number(value));
  }
  return sums;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- one run

type GatewayKind = 'tickcast' | 'hive';

interface RunResult {
  readonly gateway: GatewayKind;
  readonly clients: number;
  readonly connected: number;
  readonly subscribed: number;
  readonly published: number;
  readonly received: number;
  /** Not received by the end of the drain: queued, dropped or never sent. */
  readonly missing: number;
  readonly gatewayCpuPerDelivery: number;
  readonly queries: { p50: number; max: number; failed: number; count: number };
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly deliveredPerSecond: number;
  readonly minPerClient: number;
  readonly errors: number;
  readonly wrong: number;
  readonly closes: Record<string, number>;
  readonly firstProblem: string | null;
  readonly idleRssMb: number;
  readonly subscribedRssMb: number;
  readonly peakRssMb: number;
  readonly gatewayCpu: number;
  readonly subgraphsCpu: number;
  readonly loadCpu: number;
  /** Subscriptions the predictions subgraph held for this gateway, and entity fetches the markets subgraph served per event. */
  readonly upstreamSubscriptions: number;
  readonly marketsOpsPerEvent: number;
  readonly probe: { p50: number; p99: number; received: number };
  readonly gatewayMetrics: string | null;
  readonly failure: string | null;
}

interface Environment {
  readonly id: string;
  readonly subgraphUrls: Record<SubgraphName, string>;
  readonly predictions: Child & { metricsPort: number };
  readonly markets: Child & { metricsPort: number };
  readonly supergraphFile: string;
  readonly loads: Child[];
  readonly publish: (prediction: Prediction) => Promise<void>;
  readonly env: NodeJS.ProcessEnv;
  readonly operation: OperationName;
  readonly rate: number;
  readonly seconds: number;
}

function prediction(id: string): Prediction {
  const madeAt = Date.now();
  return {
    v: 1,
    id,
    pair: PAIR,
    horizonMinutes: 5,
    madeAt,
    targetTime: madeAt + 5 * 60_000,
    basePrice: PRICE,
    predictedLogReturn: 0.0001,
    predictedPrice: PRICE * Math.exp(0.0001),
    lowerBound: PRICE - 120,
    upperBound: PRICE + 120,
    modelName: 'tickcast-btc-usd-5m',
    modelVersion: '1',
  };
}

export function percentile(histogram: Map<number, number>, total: number, q: number): number {
  if (total === 0) return NaN;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (const ms of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(ms)!;
    if (seen >= rank) return ms;
  }
  return NaN;
}

/** BENCH_PROFILE_DIR: the gateways under test write V8 CPU profiles there (`node --cpu-prof`) when they stop. */
const PROFILE_DIR = process.env['BENCH_PROFILE_DIR'];
const GATEWAY_FLAGS = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];

async function startGateway(
  kind: GatewayKind,
  environment: Environment,
): Promise<{ child: Child; url: string; metricsPort: number | null }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  if (kind === 'tickcast') {
    const metricsPort = await freePort();
    const child = startChild(
      'tickcast gateway',
      [repoFile('cli/main.ts'), 'gateway'],
      {
        ...environment.env,
        GATEWAY_PORT: String(port),
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_AUTH: 'disabled',
        GATEWAY_LANDING_PAGE: 'false',
        // Every client is the same anonymous principal: no per-key limit or rate limit may refuse them.
        GATEWAY_SUBSCRIPTIONS_PER_KEY: '1000000',
        GATEWAY_WS_CONNECTIONS_PER_KEY: '1000000',
        GATEWAY_RATE_LIMIT_PER_SECOND: '1000000',
        GATEWAY_RATE_LIMIT_BURST: '1000000',
        METRICS_PORT: String(metricsPort),
        ...Object.fromEntries(
          SUBGRAPHS.map((name) => [`SUBGRAPH_${name.toUpperCase()}_URL`, environment.subgraphUrls[name]]),
        ),
      },
      { nodeFlags: GATEWAY_FLAGS },
    );
    await waitReady(child, url);
    return { child, url, metricsPort };
  }
  const child = startChild(
    'Hive Gateway',
    [fileURLToPath(import.meta.url), 'hive'],
    {
      ...environment.env,
      BENCH_SUPERGRAPH: environment.supergraphFile,
      BENCH_PORT: String(port),
    },
    { nodeFlags: GATEWAY_FLAGS },
  );
  await waitReady(child, url);
  return { child, url, metricsPort: null };
}

async function allStats(loads: readonly Child[]): Promise<ClientStats[]> {
  return Promise.all(loads.map(async (load) => (await ask(load, { type: 'status' }, 'stats', 30_000)).stats));
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Until `done`, or no event reached any client for `quietMs`, or `maxMs` passed. */
async function waitQuiet(
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
    const events = sum(stats.map((s) => s.events));
    if (events !== last) {
      last = events;
      lastChange = Date.now();
    }
    if (done(stats) || Date.now() - lastChange > quietMs || Date.now() - started > maxMs) return;
  }
}

/** `{ __typename }` over HTTP every QUERY_PROBE_INTERVAL_MS until stopped: latencies in ms, failures. */
function probeQueries(url: string): { stop(): Promise<{ p50: number; max: number; failed: number; count: number }> } {
  let running = true;
  const latencies: number[] = [];
  let failed = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const ok = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
        signal: AbortSignal.timeout(30_000),
      }).then(
        async (r) => r.ok && (await r.text()).includes('Query'),
        () => false,
      );
      if (ok) latencies.push(performance.now() - started);
      else failed++;
      await sleep(QUERY_PROBE_INTERVAL_MS);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      latencies.sort((a, b) => a - b);
      return {
        p50: latencies[Math.floor(latencies.length / 2)] ?? NaN,
        max: latencies.at(-1) ?? NaN,
        failed,
        count: latencies.length,
      };
    },
  };
}

async function runOnce(
  environment: Environment,
  kind: GatewayKind,
  clients: number,
  runIndex: number,
  log: (line: string) => void,
): Promise<RunResult> {
  const { loads, rate, seconds } = environment;
  const tag = `${environment.id}-${kind}-${clients}`;
  const warm = `warm-${tag}-`;
  const timed = `timed-${tag}-`;
  const gateway = await startGateway(kind, environment);
  const idle = await procStatus(gateway.child.pid);
  let peakRssMb = idle.rssMb;
  const sampler = setInterval(() => {
    void procStatus(gateway.child.pid).then((s) => {
      if (s.rssMb > peakRssMb) peakRssMb = s.rssMb;
    });
  }, 200);
  const probe = new ClientPool({
    url: environment.subgraphUrls.predictions.replace(/^http/, 'ws'),
    query: PROBE_OPERATION,
    count: 1,
    localAddress: '127.0.0.1',
    warm,
    timed,
    federated: false,
  });
  let failure: string | null = null;
  let gatewayMetrics: string | null = null;
  try {
    await probe.connect();
    const perLoad = loads.map((_, i) => Math.floor(clients / loads.length) + (i < clients % loads.length ? 1 : 0));
    const connectStarted = performance.now();
    const connected = await Promise.all(
      loads.map(
        async (load, i) =>
          (
            await ask(
              load,
              {
                type: 'connect',
                spec: {
                  url: gateway.url.replace(/^http/, 'ws'),
                  query: OPERATIONS[environment.operation],
                  count: perLoad[i]!,
                  localAddress: `127.${1 + (runIndex % 250)}.${1 + i}.1`,
                  warm,
                  timed,
                  federated: environment.operation === 'federated',
                },
              },
              'stats',
              300_000,
            )
          ).stats,
      ),
    );
    const connectedCount = sum(connected.map((s) => s.connected));
    log(
      `    ${kind} ${clients}: ${connectedCount} connected in ${((performance.now() - connectStarted) / 1000).toFixed(1)} s` +
        (connectedCount < clients
          ? ` (${clients - connectedCount} failed: ${connected.find((s) => s.firstProblem)?.firstProblem})`
          : ''),
    );

    // Warm-up: until every connected client has seen an event end to end.
    const warmStarted = Date.now();
    let subscribed = 0;
    let warmups = 0;
    for (let k = 0; ; k++) {
      if (k % (WARMUP_INTERVAL_MS / 250) === 0) await environment.publish(prediction(`${warm}${warmups++}`));
      await sleep(250);
      subscribed = sum((await allStats(loads)).map((s) => s.warmed));
      if (subscribed >= connectedCount || Date.now() - warmStarted > WARMUP_TIMEOUT_MS) break;
    }
    const warmSeconds = (Date.now() - warmStarted) / 1000;
    // Settle: the gateway delivers what is left of the warm-up events before timing starts.
    const settleStarted = Date.now();
    await waitQuiet(loads, SETTLE_QUIET_MS, SETTLE_MAX_MS, () => false);
    log(
      `    ${kind} ${clients}: ${subscribed} subscribed after ${warmSeconds.toFixed(1)} s of warm-up ` +
        `(${warmups} warm-up events), idle after ${((Date.now() - settleStarted) / 1000).toFixed(1)} s more`,
    );
    const subscribedRssMb = (await procStatus(gateway.child.pid)).rssMb;
    // Less the direct probe's own subscription.
    const upstreamSubscriptions =
      ((await scrapeMetrics(environment.predictions.metricsPort)).get('tickcast_subgraph_subscriptions_active') ??
        NaN) - 1;

    // Timed: `rate` events/s for `seconds`.
    const before = await allStats(loads);
    const cpu0 = {
      gateway: await cpuSeconds(gateway.child.pid),
      subgraphs: (await cpuSeconds(environment.predictions.pid)) + (await cpuSeconds(environment.markets.pid)),
    };
    const marketsOps0 =
      (await scrapeMetrics(environment.markets.metricsPort)).get('tickcast_subgraph_requests_total') ?? 0;
    const published = Math.round(rate * seconds);
    const queryProbe = probeQueries(gateway.url);
    const started = Date.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < published; i++) {
      const due = started + (i * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      sends.push(environment.publish(prediction(`${timed}${i}`)));
    }
    await Promise.all(sends);
    const expected = published * subscribed;
    await waitQuiet(loads, DRAIN_QUIET_MS, DRAIN_MAX_MS, (stats) => sum(stats.map((s) => s.received)) >= expected);
    const queries = await queryProbe.stop();
    const reports = await Promise.all(
      loads.map(async (load) => (await ask(load, { type: 'collect' }, 'report', 60_000)).report),
    );
    const ended = Math.max(...reports.map((r) => r.lastReceiptAt), started + 1);
    const wallSeconds = (Date.now() - started) / 1000;
    const cpu1 = {
      gateway: await cpuSeconds(gateway.child.pid),
      subgraphs: (await cpuSeconds(environment.predictions.pid)) + (await cpuSeconds(environment.markets.pid)),
    };
    const marketsOps1 =
      (await scrapeMetrics(environment.markets.metricsPort)).get('tickcast_subgraph_requests_total') ?? 0;
    if (gateway.metricsPort !== null) {
      const m = await scrapeMetrics(gateway.metricsPort);
      const names = [
        'tickcast_gateway_subscriptions_active',
        'tickcast_gateway_subscription_upstreams_active',
        'tickcast_gateway_subscription_groups_active',
        'tickcast_gateway_subscription_upstream_events_total',
        'tickcast_gateway_subscription_events_total',
        'tickcast_gateway_subscription_clients_dropped_total',
        'tickcast_gateway_ws_connections_active',
      ];
      gatewayMetrics = names.map((n) => `${n.replace('tickcast_gateway_', '')}=${m.get(n) ?? 0}`).join(' ');
    }

    const histogram = new Map<number, number>();
    for (const report of reports)
      for (const [ms, count] of report.histogram) histogram.set(ms, (histogram.get(ms) ?? 0) + count);
    const received = sum(reports.map((r) => r.received));
    const probeReport = probe.report();
    const probeHistogram = new Map(probeReport.histogram);
    const closes: Record<string, number> = {};
    for (const report of reports)
      for (const [code, n] of Object.entries(report.closes)) closes[code] = (closes[code] ?? 0) + n;
    return {
      gateway: kind,
      clients,
      connected: connectedCount,
      subscribed,
      published,
      received,
      missing: published * clients - received,
      gatewayCpuPerDelivery: (cpu1.gateway - cpu0.gateway) / received,
      queries,
      p50: percentile(histogram, received, 0.5),
      p99: percentile(histogram, received, 0.99),
      max: percentile(histogram, received, 1),
      deliveredPerSecond: received / ((ended - started) / 1000),
      minPerClient: Math.min(...reports.map((r) => r.minPerClient)),
      errors: sum(reports.map((r) => r.errors)),
      wrong: sum(reports.map((r) => r.wrong)),
      closes,
      firstProblem: reports.find((r) => r.firstProblem)?.firstProblem ?? null,
      idleRssMb: idle.rssMb,
      subscribedRssMb,
      peakRssMb: Math.max(peakRssMb, (await procStatus(gateway.child.pid)).hwmMb),
      gatewayCpu: (cpu1.gateway - cpu0.gateway) / wallSeconds,
      subgraphsCpu: (cpu1.subgraphs - cpu0.subgraphs) / wallSeconds,
      loadCpu: sum(reports.map((r, i) => r.cpuMs - before[i]!.cpuMs)) / 1000 / wallSeconds,
      upstreamSubscriptions,
      marketsOpsPerEvent: (marketsOps1 - marketsOps0) / published,
      probe: {
        p50: percentile(probeHistogram, probeReport.received, 0.5),
        p99: percentile(probeHistogram, probeReport.received, 0.99),
        received: probeReport.received,
      },
      gatewayMetrics,
      failure,
    };
  } catch (error) {
    failure = String((error as Error).message ?? error);
    throw Object.assign(new Error(failure), { gatewayOutput: gateway.child.output() });
  } finally {
    clearInterval(sampler);
    await probe.disconnect();
    await Promise.all(
      loads.map((load) => ask(load, { type: 'disconnect' }, 'disconnected', 120_000).catch(() => undefined)),
    );
    await stopChild(gateway.child);
    const tail = gateway.child
      .output()
      .split('\n')
      .filter((line) => /warn|error|"level":(40|50|60)/i.test(line) && !line.includes('AUTHENTICATION IS DISABLED'));
    if (tail.length > 0)
      log(
        `    ${kind} ${clients}: ${tail.length} warning/error lines from the gateway, last: ${tail.at(-1)!.slice(0, 600)}`,
      );
    // The subgraph must have let go of this gateway's subscriptions before the next run.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const open =
        (await scrapeMetrics(environment.predictions.metricsPort)).get('tickcast_subgraph_subscriptions_active') ?? 0;
      if (open === 0) break;
      await sleep(250);
    }
  }
}

// ---- the benchmark

export async function run(flags: SubscriptionBenchFlags = {}): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS'];
  const databaseUrl = process.env['DATABASE_URL'];
  if (!brokers || !databaseUrl) {
    throw new Error(
      'the subscriptions benchmark needs Kafka and PostgreSQL: run `scripts/services up` and `eval "$(scripts/services env)"`',
    );
  }
  const clientCounts = (flags.clients ?? DEFAULT_CLIENTS.join(',')).split(',').map(Number);
  const seconds = Number(flags.seconds ?? 10);
  const rate = Number(flags.rate ?? 20);
  const operation = (flags.operation ?? 'federated') as OperationName;
  if (
    clientCounts.some((n) => !Number.isInteger(n) || n <= 0) ||
    !(seconds > 0) ||
    !(rate > 0) ||
    !(operation in OPERATIONS)
  ) {
    throw new Error(
      'usage: npm run bench -- subscriptions [--clients 1000,5000,10000] [--seconds 10] [--rate 20] [--operation federated|primary]',
    );
  }
  const cleanups: [string, () => Promise<unknown>][] = [];
  try {
    await bench({ brokers, databaseUrl, clientCounts, seconds, rate, operation }, cleanups);
  } finally {
    for (const [what, cleanup] of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error(`subscriptions bench: ${what} failed:`, error));
    }
  }
}

async function bench(
  options: {
    brokers: string;
    databaseUrl: string;
    clientCounts: number[];
    seconds: number;
    rate: number;
    operation: OperationName;
  },
  cleanups: [string, () => Promise<unknown>][],
): Promise<void> {
  const loadBefore = loadavg();
  const logger = createLogger('warn');
  const id = `bench${Date.now().toString(36)}${randomBytes(2).toString('hex')}_subs`;
  const admin = new pg.Pool({ connectionString: options.databaseUrl, max: 1 });
  await admin.query(`CREATE SCHEMA ${id}`);
  cleanups.push([
    `dropping schema ${id}`,
    async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${id} CASCADE`);
      await admin.end();
    },
  ]);
  cleanups.push([`deleting topics ${id}.*`, () => deleteTopics(options.brokers.split(','), `${id}.`)]);
  const dir = await mkdtemp(join(tmpdir(), 'tickcast-bench-subscriptions-'));
  cleanups.push([`removing ${dir}`, () => rm(dir, { recursive: true, force: true })]);

  const scoped = new URL(options.databaseUrl);
  scoped.searchParams.set('options', `-c search_path=${id}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: options.brokers,
    KAFKA_TOPIC_PREFIX: `${id}.`,
    TICKCAST_GROUP_PREFIX: `${id}.`,
    DATABASE_URL: scoped.toString(),
    TICKCAST_DATA_DIR: dir,
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
  };
  delete env['MLFLOW_TRACKING_URI'];
  const config = loadConfig(env);

  // The market's last trade, which the federated subscription fetches from the markets subgraph per event.
  const store = await openFeatureStore(config, logger); // migrates the fresh schema
  const trade: Trade = {
    v: 1,
    kind: 'trade',
    pair: PAIR,
    tradeId: 1,
    price: PRICE,
    qty: 0.5,
    side: 'buy',
    time: Date.now(),
    source: 'simulated',
  };
  await insertTrades(store.pool, [trade]).finally(() => store.close());

  const bus = await createBus(config, logger); // creates the namespace's topics
  cleanups.push(['closing the bus', () => bus.close()]);
  predictionSchema.parse(prediction('check'));
  const publish = (value: Prediction) => bus.publish([{ topic: TOPICS.predictions.name, key: PAIR, value }]);

  const startSubgraph = async (name: 'predictions' | 'markets') => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = startChild(`${name} subgraph`, [repoFile('cli/main.ts'), 'subgraph', name], {
      ...env,
      SUBGRAPH_PORT: String(port),
      METRICS_PORT: String(metricsPort),
    });
    cleanups.push([`stopping the ${name} subgraph`, () => stopChild(child)]);
    const url = `http://localhost:${port}/graphql`;
    await waitReady(child, url);
    return { ...child, metricsPort, url };
  };
  const [predictions, markets] = await Promise.all([startSubgraph('predictions'), startSubgraph('markets')]);
  // The other three subgraphs are not on this subscription's path: a port nothing listens on.
  const unused = `http://127.0.0.1:${await freePort()}/graphql`;
  const subgraphUrls = Object.fromEntries(
    SUBGRAPHS.map((name) => [
      name,
      name === 'predictions' ? predictions.url : name === 'markets' ? markets.url : unused,
    ]),
  ) as Record<SubgraphName, string>;
  const supergraphFile = join(dir, 'supergraph.graphql');
  await writeFile(supergraphFile, await composeWithUrls(subgraphUrls));

  const loads = Array.from({ length: LOAD_PROCESSES }, (_, i) =>
    startChild(`load generator ${i + 1}`, [fileURLToPath(import.meta.url), 'load'], env, { ipc: true }),
  );
  for (const load of loads) cleanups.push([`stopping ${load.name}`, () => stopChild(load)]);

  const environment: Environment = {
    id,
    subgraphUrls,
    predictions,
    markets,
    supergraphFile,
    loads,
    publish,
    env,
    operation: options.operation,
    rate: options.rate,
    seconds: options.seconds,
  };
  const log = (line: string) => console.log(line);
  log(
    `subscriptions: ${options.operation} subscription, ${options.rate} events/s for ${options.seconds} s per run, ` +
      `clients ${options.clientCounts.join(' / ')} in ${LOAD_PROCESSES} load generator processes; ${cpus().length} CPUs, ` +
      `Node ${process.version}, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} at start (other work on the machine)`,
  );
  log(`  operation: ${OPERATIONS[options.operation]}`);
  const results: RunResult[] = [];
  const failures: { gateway: GatewayKind; clients: number; error: string }[] = [];
  let runIndex = 0;
  for (const clients of options.clientCounts) {
    for (const kind of ['tickcast', 'hive'] as const) {
      runIndex++;
      try {
        results.push(await runOnce(environment, kind, clients, runIndex, log));
      } catch (error) {
        const message = String((error as Error).message ?? error);
        failures.push({ gateway: kind, clients, error: message });
        log(`    ${kind} ${clients}: FAILED: ${message}`);
        const output = (error as { gatewayOutput?: string }).gatewayOutput;
        if (output) log(`    gateway output (tail):\n${output.slice(-3_000)}`);
      }
    }
  }
  printTable(results, failures, options, loadavg());
}

function printTable(
  results: readonly RunResult[],
  failures: readonly { gateway: GatewayKind; clients: number; error: string }[],
  options: { clientCounts: number[]; rate: number },
  loadAfter: number[],
): void {
  const name = (kind: GatewayKind) => (kind === 'tickcast' ? 'tickcast gateway' : 'Hive Gateway');
  const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
  const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
  const columns = [
    ['gateway', 16],
    ['clients', 7],
    ['subscribed', 10],
    ['p50 ms', 7],
    ['p99 ms', 7],
    ['max ms', 7],
    ['delivered/s', 11],
    ['offered/s', 9],
    ['missing', 9],
    ['RSS MB idle/subscribed/peak', 27],
    ['gw CPU', 6],
    ['subgraphs CPU', 13],
    ['loadgen CPU', 11],
    ['upstream subs', 13],
    ['markets ops/event', 17],
    ['direct p50/p99', 14],
    ['gw CPU µs/event', 15],
    ['query p50/max ms', 16],
  ] as const;
  console.log(
    `  ${columns.map(([title, width], i) => (i === 0 ? title.padEnd(width) : title.padStart(width))).join(' ')}`,
  );
  for (const r of results) {
    const cells = [
      name(r.gateway),
      int(r.clients),
      int(r.subscribed),
      fixed(r.p50, 0),
      fixed(r.p99, 0),
      fixed(r.max, 0),
      int(r.deliveredPerSecond),
      int(r.clients * options.rate),
      int(r.missing),
      `${int(r.idleRssMb)} / ${int(r.subscribedRssMb)} / ${int(r.peakRssMb)}`,
      fixed(r.gatewayCpu),
      fixed(r.subgraphsCpu),
      fixed(r.loadCpu),
      int(r.upstreamSubscriptions),
      fixed(r.marketsOpsPerEvent, 1),
      `${fixed(r.probe.p50, 0)} / ${fixed(r.probe.p99, 0)}`,
      fixed(r.gatewayCpuPerDelivery * 1e6, 0),
      `${fixed(r.queries.p50, 0)} / ${fixed(r.queries.max, 0)}${r.queries.failed > 0 ? ` (${r.queries.failed} failed)` : ''}`,
    ];
    console.log(
      `  ${cells.map((cell, i) => (i === 0 ? cell.padEnd(columns[i]![1]) : cell.padStart(columns[i]![1]))).join(' ')}`,
    );
  }
  for (const r of results) {
    const notes = [
      r.errors > 0 && `${r.errors} error results`,
      r.wrong > 0 && `${r.wrong} incomplete events`,
      Object.keys(r.closes).length > 0 && `sockets closed by the server: ${JSON.stringify(r.closes)}`,
      r.minPerClient < r.published && `fewest events one client got: ${r.minPerClient} of ${r.published}`,
      r.firstProblem && `first problem: ${r.firstProblem}`,
      r.gatewayMetrics && `metrics: ${r.gatewayMetrics}`,
    ].filter((n): n is string => typeof n === 'string');
    if (notes.length > 0) console.log(`  ${name(r.gateway)} ${int(r.clients)}: ${notes.join('; ')}`);
  }
  for (const f of failures) console.log(`  ${name(f.gateway)} ${int(f.clients)}: FAILED: ${f.error.split('\n')[0]}`);
  const ratio = (a: number, b: number) =>
    Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(3) : 'n/a';
  console.log(
    `  ${'ratio tickcast / Hive'.padEnd(24)} ${'p99'.padStart(7)} ${'delivered/s'.padStart(11)} ${'peak RSS'.padStart(8)} ${'gw CPU'.padStart(7)}`,
  );
  for (const clients of options.clientCounts) {
    const t = results.find((r) => r.gateway === 'tickcast' && r.clients === clients);
    const h = results.find((r) => r.gateway === 'hive' && r.clients === clients);
    if (!t || !h) {
      console.log(`  ${`${int(clients)} clients`.padEnd(24)} n/a (a run failed)`);
      continue;
    }
    console.log(
      `  ${`${int(clients)} clients`.padEnd(24)} ${ratio(t.p99, h.p99).padStart(7)} ` +
        `${ratio(t.deliveredPerSecond, h.deliveredPerSecond).padStart(11)} ${ratio(t.peakRssMb, h.peakRssMb).padStart(8)} ` +
        `${ratio(t.gatewayCpu, h.gatewayCpu).padStart(7)}`,
    );
  }
  console.log(
    `  CPU columns are CPU-s per wall-s over the timed window (publish + drain); the load generators share the ` +
      `2 cores with the gateway, the subgraphs, Kafka and PostgreSQL. Load average at end ${loadAfter.map((l) => l.toFixed(2)).join(' ')}.`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const role = process.argv[2];
  if (role === 'load') serveLoad();
  else if (role === 'hive') await serveHive();
  else {
    console.error('bench/subscriptions.ts runs its own children; run `npm run bench -- subscriptions`');
    process.exit(2);
  }
}
