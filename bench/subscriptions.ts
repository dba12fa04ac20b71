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
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import { predictionSchema, type Prediction, type Trade } from '../schema/events.ts';
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs.ts';
import { TOPICS } from '../schema/topics.ts';
import { createBus, openFeatureStore } from '../streams/runtime.ts';
import { insertTrades } from '../streams/store/feature-store.ts';
import { freePort } from '../test/support/ports.ts';
import { deleteTopics } from '../test/support/services.ts';
import { runCleanups, startLoadGenerators, startService, type Cleanups } from './subscriptions/children.ts';
import { LOAD_SCRIPT } from './subscriptions/load.ts';
import { runOnce, type Environment, type RunResult } from './subscriptions/measure.ts';
import { printTable, type RunFailure } from './subscriptions/report.ts';
import { OPERATIONS, PAIR, prediction, PRICE, type OperationName } from './subscriptions/workload.ts';
import { composeWithUrls } from './supergraph.ts';

const DEFAULT_CLIENTS = [1_000, 5_000, 10_000];
const LOAD_PROCESSES = Number(process.env['BENCH_LOAD_PROCESSES'] ?? 2);

const repoFile = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));

export interface SubscriptionBenchFlags {
  readonly clients?: string | undefined;
  readonly seconds?: string | undefined;
  readonly rate?: string | undefined;
  readonly operation?: string | undefined;
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
  const cleanups: Cleanups = [];
  try {
    await bench({ brokers, databaseUrl, clientCounts, seconds, rate, operation }, cleanups);
  } finally {
    await runCleanups(cleanups, 'subscriptions');
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
  cleanups: Cleanups,
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
    const url = `http://localhost:${port}/graphql`;
    const child = await startService(
      `${name} subgraph`,
      [repoFile('cli/main.ts'), 'subgraph', name],
      { ...env, SUBGRAPH_PORT: String(port), METRICS_PORT: String(metricsPort) },
      url,
      cleanups,
    );
    return { ...child, metricsPort, url };
  };
  const [predictions, markets] = await Promise.all([startSubgraph('predictions'), startSubgraph('markets')]);
  // A subgraph that dies mid-bench leaves every later run without events: say so, and why.
  let stopping = false;
  cleanups.push([
    'expecting the subgraphs to stop',
    async () => {
      stopping = true;
    },
  ]);
  for (const subgraph of [predictions, markets]) {
    void subgraph.exited.then((how) => {
      if (!stopping)
        console.log(`  ${subgraph.name} EXITED (${how}) mid-bench; its output:\n${subgraph.output().slice(-3_000)}`);
    });
  }
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

  const loads = startLoadGenerators(
    Array.from({ length: LOAD_PROCESSES }, (_, i) => `load generator ${i + 1}`),
    LOAD_SCRIPT,
    env,
    cleanups,
  );

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
  const failures: RunFailure[] = [];
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
