/**
 * One measured run of the subscriptions benchmark: a fresh gateway, its clients connected and
 * warmed up, `rate` events/s for `seconds`, the drain, and what it all measured (a `RunResult`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Prediction } from '../../schema/events.ts';
import type { SubgraphName } from '../../schema/subgraphs.ts';
import { askTypename, stopChild, type Child } from './children.ts';
import { startGateway, type GatewayKind } from './gateways.ts';
import { allStats, ask, ClientPool, waitQuiet, type ClientReport } from './load.ts';
import { cpuSeconds, procStatus, scrapeMetrics } from './process-metrics.ts';
import { OPERATIONS, prediction, PROBE_OPERATION, type OperationName } from './workload.ts';

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

export interface RunResult {
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

/** What every run shares: the subgraphs, the load generators, the publisher and the flags. */
export interface Environment {
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

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Fewest timed events one client got, over the pools that hold clients (NaN when none does). */
export function fewestPerClient(reports: readonly Pick<ClientReport, 'minPerClient'>[]): number {
  const mins = reports.map((r) => r.minPerClient).filter((min): min is number => min !== null);
  return mins.length > 0 ? Math.min(...mins) : NaN;
}

/** `{ __typename }` over HTTP every QUERY_PROBE_INTERVAL_MS until stopped: latencies in ms, failures. */
function probeQueries(url: string): { stop(): Promise<{ p50: number; max: number; failed: number; count: number }> } {
  let running = true;
  const latencies: number[] = [];
  let failed = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const ok = await askTypename(url, 30_000).then(
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

export async function runOnce(
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
      // Where an event's time goes inside the gateway (means over the run, warm-up included).
      const meanMs = (histogram: string) =>
        ((1000 * (m.get(`${histogram}_sum`) ?? NaN)) / (m.get(`${histogram}_count`) ?? NaN)).toFixed(2);
      gatewayMetrics = [
        ...names.map((n) => `${n.replace('tickcast_gateway_', '')}=${m.get(n) ?? 0}`),
        `mean ms: resolve=${meanMs('tickcast_gateway_subscription_resolve_seconds')}`,
        `received-to-written=${meanMs('tickcast_gateway_subscription_delivery_lag_seconds')}`,
      ].join(' ');
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
      minPerClient: fewestPerClient(reports),
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
