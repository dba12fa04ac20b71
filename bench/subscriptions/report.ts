/**
 * The subscriptions benchmark's table: a row per gateway and client count, notes on what went
 * wrong in a run, and the ratios tickcast / Hive Gateway per client count.
 */
import type { GatewayKind } from './gateways.ts';
import type { RunResult } from './measure.ts';

/** Gateway CPU per event delivered to one client that issue 15 asks for. */
const CPU_PER_DELIVERY_GOAL_US = 5;
/** The goal is about fan-out: judged from this many clients on. */
const CPU_GOAL_MIN_CLIENTS = 1_000;

/** A run that threw instead of measuring. */
export interface RunFailure {
  readonly gateway: GatewayKind;
  readonly clients: number;
  readonly error: string;
}

export function printTable(
  results: readonly RunResult[],
  failures: readonly RunFailure[],
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
  // Issue 15's goal for fan-out cost, beside each run's measured CPU per delivery. With few
  // deliveries the gateway's idle work (metrics, probes) dominates, so only fan-out runs are judged.
  for (const r of results.filter((r) => r.gateway === 'tickcast')) {
    const us = r.gatewayCpuPerDelivery * 1e6;
    const judged = r.clients >= CPU_GOAL_MIN_CLIENTS;
    const verdict = us <= CPU_PER_DELIVERY_GOAL_US ? 'met' : 'missed';
    console.log(
      `  tickcast gateway ${int(r.clients)}: ${fixed(us, 1)} µs gateway CPU per delivery` +
        (judged ? ` (goal ≤ ${CPU_PER_DELIVERY_GOAL_US} µs: ${verdict})` : '') +
        `, ${int(r.deliveredPerSecond)} deliveries/s`,
    );
  }
  console.log(
    `  CPU columns are CPU-s per wall-s over the timed window (publish + drain); the load generators share the ` +
      `2 cores with the gateway, the subgraphs, Kafka and PostgreSQL. Load average at end ${loadAfter.map((l) => l.toFixed(2)).join(' ')}.`,
  );
}
