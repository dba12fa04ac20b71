/**
 * The container entrypoint as Kubernetes runs it, without Docker: every tickcast
 * Deployment of the rendered prod overlay is started from its manifest's own command and
 * args (`tickcast gateway`, `tickcast subgraph markets`, `tickcast stream candles`, ...)
 * and environment (its ConfigMap and env entries), against the real Kafka, PostgreSQL and
 * MLflow, and must pass its manifest's readiness probe, then stop cleanly on SIGTERM
 * within its termination grace period.
 *
 * What differs from the cluster, and only that: addresses of in-cluster Services become
 * the local processes' ports, the engines become the local ones (an isolated topic prefix,
 * schema and Elasticsearch index prefix), secrets get local values, the trade source a
 * local Kraken server, and Elasticsearch is the local one without security (no
 * credentials in its URL). The topics exist before the
 * services start, as Strimzi's topic operator creates them from the KafkaTopic resources
 * (here `tickcast topics` does).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderOverlay, type Resource } from '../../k8s/render.ts';
import { podTemplate } from '../../k8s/policy.ts';
import { generateApiKey } from '../../gateway/auth.ts';
import { FakeKrakenWsServer } from '../fakes/kraken-ws-server.ts';
import { configMapsOf, localLaunch, serviceTargets, type LocalLaunch } from '../support/manifests.ts';
import { startService, stopGracefully, type Service } from '../support/processes.ts';
import { isolate, waitFor, type Isolation } from '../support/services.ts';

const READY_TIMEOUT_MS = 240_000;

let isolation: Isolation;
let kraken: FakeKrakenWsServer;
let dataDir: string;
let deployments: Resource[] = [];
const launches = new Map<string, LocalLaunch>();
const running = new Map<string, Service>();

/** Rewrites `service:port` of an in-cluster Service to the local port of the process behind it. */
function toLocalAddresses(value: string, services: Map<string, { deployment: string; port: number }>): string {
  return value.replace(/\b([a-z][a-z0-9-]*):(\d+)\b/g, (whole, host: string, port: string) => {
    const target = services.get(`${host}:${port}`);
    const local = target ? launches.get(target.deployment)?.ports.get(target.port) : undefined;
    return local === undefined ? whole : `127.0.0.1:${local}`;
  });
}

before(async () => {
  const resources = await renderOverlay('prod');
  deployments = resources.filter(
    (r) => r.kind === 'Deployment' && podTemplate(r)?.metadata?.labels?.['app.kubernetes.io/part-of'] === 'tickcast',
  );
  isolation = await isolate('k8sentry');
  kraken = await FakeKrakenWsServer.start({ heartbeatIntervalMs: 500 });
  dataDir = await mkdtemp(join(tmpdir(), 'tickcast-k8s-'));
  const mlflow = process.env['MLFLOW_TRACKING_URI'];
  assert.ok(mlflow, 'MLFLOW_TRACKING_URI: run with the real services (scripts/services env)');
  const { entry } = generateApiKey('k8s-entrypoint', ['read']);
  const context = {
    configMaps: configMapsOf(resources),
    secrets: new Map([
      ['tickcast-postgres/password', 'replaced-by-the-local-DATABASE_URL'],
      ['tickcast-es-elastic-user/elastic', 'no-elasticsearch-here'],
      ['tickcast-gateway/api-keys', entry],
      ['tickcast-internal/secret', randomBytes(32).toString('hex')],
    ]),
  };
  for (const deployment of deployments) launches.set(deployment.metadata.name, await localLaunch(deployment, context));
  const services = serviceTargets(resources);
  for (const launch of launches.values()) {
    const env = launch.env;
    for (const [name, value] of Object.entries(env)) env[name] = toLocalAddresses(value, services);
    Object.assign(env, {
      KAFKA_BROKERS: isolation.env['KAFKA_BROKERS'],
      KAFKA_TOPIC_PREFIX: isolation.env['KAFKA_TOPIC_PREFIX'],
      // The isolation's prefix first; a Deployment's own (a second consumer group) stays.
      TICKCAST_GROUP_PREFIX: `${isolation.env['TICKCAST_GROUP_PREFIX']}${env['TICKCAST_GROUP_PREFIX'] ?? ''}`,
      DATABASE_URL: isolation.env['DATABASE_URL'],
      MLFLOW_TRACKING_URI: mlflow,
      KRAKEN_WS_URL: kraken.url,
      TICKCAST_DATA_DIR: join(dataDir, launch.name),
    });
    // A Deployment without ELASTICSEARCH_URL must not inherit this process's ('' is unset).
    env['ELASTICSEARCH_URL'] = env['ELASTICSEARCH_URL'] === undefined ? '' : (isolation.env['ELASTICSEARCH_URL'] ?? '');
    env['ELASTICSEARCH_INDEX_PREFIX'] = isolation.config.ELASTICSEARCH_INDEX_PREFIX;
    const leftovers = Object.entries(env).filter(([, value]) =>
      [...value.matchAll(/(?:\/\/|^)([a-z][a-z0-9-]*):\d+/g)].some((m) => m[1] !== 'localhost'),
    );
    assert.deepEqual(leftovers, [], `${launch.name}: in-cluster addresses left in its environment`);
  }
  const topics = startService('topics', ['topics'], isolation.env);
  assert.equal(await topics.exited, 0, topics.output());
  for (const launch of launches.values()) {
    const [program, ...args] = launch.command;
    assert.equal(program, 'tickcast', `${launch.name}: the image's entrypoint is tickcast`);
    running.set(launch.name, startService(launch.name, args, launch.env));
  }
});

after(async () => {
  await Promise.all([...running.values()].map((service) => stopGracefully(service)));
  await kraken?.close();
  await isolation?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function ready(launch: LocalLaunch): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${launch.readiness.port}${launch.readiness.path}`).catch(
    () => undefined,
  );
  return response?.status === 200;
}

describe("the manifests' command lines, run locally against the real services", () => {
  it('cover the gateway, the five subgraphs, the stream processors and the trade source', () => {
    const names = [...launches.keys()].sort();
    assert.ok(names.includes('gateway'), names.join(', '));
    assert.equal(names.filter((n) => n.startsWith('subgraph-')).length, 5, names.join(', '));
    assert.ok(names.filter((n) => n.startsWith('stream-')).length >= 6, names.join(', '));
    assert.ok(names.includes('ingest'), names.join(', '));
  });

  it('start every service and pass each readiness probe', async () => {
    await Promise.all(
      [...launches.values()].map(async (launch) => {
        const service = running.get(launch.name) as Service;
        await waitFor(
          `${launch.name} (${launch.command.join(' ')}) ready on ${launch.readiness.path}`,
          async () => {
            if (service.child.exitCode !== null || service.child.signalCode !== null)
              assert.fail(
                `${launch.name} exited (${service.child.exitCode ?? service.child.signalCode}):\n${service.output()}`,
              );
            return ready(launch);
          },
          READY_TIMEOUT_MS,
          500,
        );
      }),
    );
  });

  it('run the gateway on limits shared through PostgreSQL, as its manifest says', async () => {
    const gateway = launches.get('gateway') as LocalLaunch;
    assert.equal(gateway.env['GATEWAY_LIMITS_STORE'], 'postgres');
    // It reached PostgreSQL: it created its limits tables there and is not on per-replica limits.
    const { rows } = await isolation.pool.query<{ created: boolean }>(
      "SELECT to_regclass('gateway_leases') IS NOT NULL AS created",
    );
    assert.equal(rows[0]?.created, true, 'the gateway created gateway_leases');
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.readiness.port}/metrics`)).text();
    assert.match(metrics, /^tickcast_gateway_limits_degraded 0$/m);
  });

  it("stop cleanly on SIGTERM within each pod's termination grace period", async () => {
    const results = await Promise.all(
      deployments.map(async (deployment) => {
        const grace = (podTemplate(deployment)?.spec as { terminationGracePeriodSeconds?: number })
          .terminationGracePeriodSeconds;
        const service = running.get(deployment.metadata.name) as Service;
        const started = Date.now();
        const code = await stopGracefully(service, (grace ?? 30) * 1000);
        return {
          name: deployment.metadata.name,
          code,
          seconds: (Date.now() - started) / 1000,
          output: service.output(),
        };
      }),
    );
    for (const result of results)
      assert.equal(result.code, 0, `${result.name} exited with ${String(result.code)}:\n${result.output}`);
  });
});
