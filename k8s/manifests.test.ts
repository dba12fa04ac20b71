/**
 * The rendered overlays against the policies (k8s/policy.ts) and against the code: a
 * KafkaTopic per declared topic with the declared partitions, retention and cleanup, a
 * Deployment per stream processor and subgraph running the matching command, and each
 * stream processor scaled on the lag of the consumer groups its code uses, never beyond
 * the partitions of their topics. Schema validation is `npm run check:k8s` (kubeconform).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { OVERLAYS, parseResources, renderOverlay, type Overlay, type Resource } from './render.ts';
import { podTemplate, STREAM_COMPONENT, violations } from './policy.ts';
import { consumerGroupsOf, type ConsumerGroup } from './consumer-groups.ts';
import { TOPICS, changelogTopic } from '../schema/topics.ts';
import { PROCESSORS, type ProcessorName } from '../streams/runtime.ts';
import { SUBGRAPHS } from '../schema/subgraphs.ts';
import { loadConfig } from '../lib/config.ts';
import { configMapsOf, localLaunch } from '../test/support/manifests.ts';

/** The processors that keep state in a changelog (bus.runStateful in streams/runtime.ts). */
const STATEFUL_PROCESSORS = [
  'candles',
  'indicators',
  'predictor',
  'monitor',
  'sentiment-extractor',
  'sentiment-features',
];

/** On the KafkaTopics whose partitions bound the stream processors' replicas; an overlay may raise their count. */
const SCALE_OUT_LABEL = 'tickcast.io/scale-out';
/** Secrets the stream Deployments read, with stand-in values (only their presence matters here). */
const SECRETS = new Map([
  ['tickcast-postgres/password', 'stand-in'],
  ['tickcast-es-elastic-user/elastic', 'stand-in'],
]);

const rendered = new Map<Overlay, Resource[]>();
/** Per overlay: each stream Deployment's environment, as the kubelet would give it. */
const environments = new Map<Overlay, Map<string, Record<string, string>>>();
before(async () => {
  for (const overlay of OVERLAYS) {
    const resources = await renderOverlay(overlay);
    rendered.set(overlay, resources);
    const context = { configMaps: configMapsOf(resources), secrets: SECRETS };
    const envs = new Map<string, Record<string, string>>();
    for (const deployment of streamDeployments(resources))
      envs.set(deployment.metadata.name, (await localLaunch(deployment, context)).env);
    environments.set(overlay, envs);
  }
});
const resourcesOf = (overlay: Overlay): Resource[] => rendered.get(overlay) ?? assert.fail(`${overlay} not rendered`);
const envOf = (overlay: Overlay, deployment: string): Record<string, string> =>
  environments.get(overlay)?.get(deployment) ?? assert.fail(`${deployment}: no environment in ${overlay}`);

function streamDeployments(resources: readonly Resource[]): Resource[] {
  return resources.filter(
    (r) => r.kind === 'Deployment' && r.metadata.labels?.['app.kubernetes.io/component'] === STREAM_COMPONENT,
  );
}

interface ScaledObjectSpec {
  scaleTargetRef: { name: string };
  minReplicaCount?: number;
  maxReplicaCount?: number;
  triggers: { type: string; metadata: Record<string, string> }[];
}
const scaledObjectSpec = (resource: Resource): ScaledObjectSpec => resource['spec'] as ScaledObjectSpec;

/** Partitions of each rendered KafkaTopic, by topic name. */
function partitionsOf(resources: readonly Resource[]): Map<string, number> {
  return new Map(
    resources
      .filter((r) => r.kind === 'KafkaTopic')
      .map((r) => {
        const spec = r['spec'] as { topicName: string; partitions: number };
        return [spec.topicName, spec.partitions];
      }),
  );
}

interface ContainerSpec {
  command?: string[];
  args?: string[];
}
const mainContainer = (resource: Resource): ContainerSpec =>
  (podTemplate(resource)?.spec.containers[0] ?? {}) as ContainerSpec;
/** `tickcast stream <processor>`: the processor a stream Deployment runs. */
const processorOf = (deployment: Resource): ProcessorName => mainContainer(deployment).args?.[1] as ProcessorName;

const groups = new Map<string, Promise<ConsumerGroup[]>>();
/** The consumer groups a stream Deployment's process uses, from the code (k8s/consumer-groups.ts), once each. */
function groupsOf(overlay: Overlay, deployment: Resource): Promise<ConsumerGroup[]> {
  const key = `${overlay} ${deployment.metadata.name}`;
  let found = groups.get(key);
  if (!found) {
    found = consumerGroupsOf(processorOf(deployment), envOf(overlay, deployment.metadata.name));
    groups.set(key, found);
  }
  return found;
}

for (const overlay of OVERLAYS) {
  describe(`k8s/overlays/${overlay}`, () => {
    it('meets every policy', () => {
      assert.deepEqual(violations(resourcesOf(overlay)), []);
    });

    it('declares a KafkaTopic for every topic of schema/topics.ts and every changelog, as declared', () => {
      const declared = [...Object.values(TOPICS), ...STATEFUL_PROCESSORS.map(changelogTopic)];
      const topics = resourcesOf(overlay).filter((r) => r.kind === 'KafkaTopic');
      assert.deepEqual(topics.map((t) => t.metadata.name).sort(), declared.map((t) => t.name).sort());
      for (const topic of declared) {
        const resource = topics.find((t) => t.metadata.name === topic.name) as Resource;
        const spec = resource['spec'] as { topicName: string; partitions: number; config: Record<string, unknown> };
        assert.equal(spec.topicName, topic.name);
        // schema/topics.ts gives what the bus creates; a cluster may give scale-out topics more.
        if (resource.metadata.labels?.[SCALE_OUT_LABEL] === 'true')
          assert.ok(spec.partitions >= topic.partitions, `${topic.name} partitions: ${spec.partitions}`);
        else assert.equal(spec.partitions, topic.partitions, `${topic.name} partitions`);
        assert.equal(spec.config['retention.ms'], topic.retentionMs, `${topic.name} retention`);
        assert.equal(spec.config['cleanup.policy'], topic.compacted ? 'compact' : 'delete', `${topic.name} cleanup`);
      }
    });

    it('runs every stream processor, subgraph and the gateway as a Deployment with its tickcast command', () => {
      const deployments = new Map(
        resourcesOf(overlay)
          .filter((r) => r.kind === 'Deployment')
          .map((r) => [r.metadata.name, mainContainer(r)]),
      );
      const expected: [string, string[]][] = [
        ['gateway', ['gateway']],
        ...SUBGRAPHS.map((name): [string, string[]] => [`subgraph-${name}`, ['subgraph', name]]),
        ...PROCESSORS.map((name): [string, string[]] => [`stream-${name}`, ['stream', name]]),
      ];
      for (const [name, args] of expected) {
        const container = deployments.get(name);
        assert.ok(container, `no Deployment ${name}`);
        assert.deepEqual([...(container.command ?? []), ...(container.args ?? [])], ['tickcast', ...args], name);
      }
    });

    it('runs the trainer as a CronJob of tickcast train', () => {
      const cronJobs = resourcesOf(overlay).filter((r) => r.kind === 'CronJob');
      const trainer = cronJobs.find((r) => r.metadata.name === 'trainer');
      assert.ok(trainer, 'no CronJob trainer');
      const pod = podTemplate(trainer)?.spec;
      const commands = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])].map((c) => {
        const spec = c as ContainerSpec;
        return [...(spec.command ?? []), ...(spec.args ?? [])].slice(0, 2).join(' ');
      });
      assert.ok(commands.length > 0);
      for (const command of commands) assert.equal(command, 'tickcast train');
    });

    it('scales each stream processor on the lag of exactly the consumer groups and topics its code reads', async () => {
      const resources = resourcesOf(overlay);
      for (const deployment of streamDeployments(resources)) {
        const name = deployment.metadata.name;
        const scaled = resources.filter(
          (r) => r.kind === 'ScaledObject' && scaledObjectSpec(r).scaleTargetRef.name === name,
        );
        assert.equal(scaled.length, 1, `${name}: one ScaledObject`);
        const triggers = scaledObjectSpec(scaled[0] as Resource).triggers;
        assert.deepEqual(
          triggers.map((t) => `${t.metadata['consumerGroup']} ${t.metadata['topic']}`).sort(),
          (await groupsOf(overlay, deployment)).flatMap((g) => g.topics.map((topic) => `${g.group} ${topic}`)).sort(),
          `${name}: (group, topic) of its triggers`,
        );
        const env = envOf(overlay, name);
        for (const { type, metadata } of triggers) {
          assert.equal(type, 'kafka', name);
          // KEDA reads it from the container's environment: the brokers the processor itself uses.
          assert.equal(metadata['bootstrapServersFromEnv'], 'KAFKA_BROKERS', name);
          assert.ok(env['KAFKA_BROKERS'], `${name}: KAFKA_BROKERS`);
          // The processors read a group's topics from the start when it has no offsets yet.
          assert.equal(metadata['offsetResetPolicy'], 'earliest', name);
        }
      }
    });

    it("never scales a stream processor past its topics' partitions, a stateful one's inputs and changelog co-partitioned", async () => {
      const resources = resourcesOf(overlay);
      const partitions = partitionsOf(resources);
      const partitionsOfTopic = (topic: string): number =>
        partitions.get(topic) ?? assert.fail(`no KafkaTopic ${topic}`);
      for (const deployment of streamDeployments(resources)) {
        const name = deployment.metadata.name;
        const spec = scaledObjectSpec(
          resources.find((r) => r.kind === 'ScaledObject' && scaledObjectSpec(r).scaleTargetRef.name === name) ??
            assert.fail(`${name}: no ScaledObject`),
        );
        const min = spec.minReplicaCount ?? assert.fail(`${name}: no minReplicaCount`);
        const max = spec.maxReplicaCount ?? assert.fail(`${name}: no maxReplicaCount (KEDA's default is 100)`);
        assert.ok(min >= (overlay === 'prod' ? 2 : 1) && min <= max, `${name}: replicas ${min}-${max}`);
        const counts = spec.triggers.map((t) => partitionsOfTopic(t.metadata['topic'] ?? ''));
        assert.ok(
          max <= Math.min(...counts),
          `${name}: maxReplicaCount ${max} beyond the partitions ${counts.join(', ')}`,
        );
        const env = envOf(overlay, name);
        for (const group of await groupsOf(overlay, deployment)) {
          if (!group.stateful) continue;
          const changelog = `${env['KAFKA_TOPIC_PREFIX'] ?? ''}${changelogTopic(processorOf(deployment)).name}`;
          const tasks = [...group.topics, changelog].map((topic) => `${topic} ${partitionsOfTopic(topic)}`);
          assert.equal(new Set(tasks.map((t) => t.split(' ')[1])).size, 1, `${name}: ${tasks.join(', ')}`);
        }
      }
    });

    it('gives each stream processor longer to stop than its own shutdown deadline', () => {
      for (const deployment of streamDeployments(resourcesOf(overlay))) {
        const grace = (podTemplate(deployment)?.spec as { terminationGracePeriodSeconds?: number })
          .terminationGracePeriodSeconds;
        const { SHUTDOWN_TIMEOUT_MS } = loadConfig(envOf(overlay, deployment.metadata.name));
        // It ends itself (committing or aborting its batch, leaving the group) before the kubelet's SIGKILL.
        assert.ok(
          grace !== undefined && grace * 1000 >= SHUTDOWN_TIMEOUT_MS + 5_000,
          `${deployment.metadata.name}: grace ${grace} s, SHUTDOWN_TIMEOUT_MS ${SHUTDOWN_TIMEOUT_MS}`,
        );
      }
    });
  });
}

describe('the policy check', () => {
  it('reports every breach of a violating manifest (k8s/fixtures/violating.yaml)', async () => {
    const fixture = parseResources(await readFile(new URL('fixtures/violating.yaml', import.meta.url), 'utf8'));
    const found = violations(fixture);
    const where = 'Deployment careless container app';
    for (const expected of [
      `${where}: no memory request`,
      `${where}: no cpu limit`,
      `${where}: no memory limit`,
      `${where}: no readiness probe`,
      `${where}: no liveness probe`,
      `${where}: runAsNonRoot is not true`,
      `${where}: runAsUser is not a non-zero uid`,
      `${where}: allowPrivilegeEscalation is not false`,
      `${where}: capabilities not dropped (drop: [ALL])`,
      `${where}: POSTGRES_PASSWORD looks like a credential but is not read from a Secret`,
      `${where}: DATABASE_URL holds a URL with a literal password`,
      `${where}: does not read ConfigMap tickcast-config`,
      'Deployment careless: no default-deny NetworkPolicy (Ingress and Egress) selects its pods',
      'Deployment careless: no PodDisruptionBudget',
      'Secret committed: a Secret with data is in the repository; create it in the cluster instead',
      'ConfigMap leaky: key GATEWAY_API_KEYS looks like a credential',
      'gateway: no Service',
      'gateway: no Ingress routes to its Service',
    ])
      assert.ok(found.includes(expected), `not reported: ${expected}\nreported:\n${found.join('\n')}`);
    assert.ok(!found.includes(`${where}: no cpu request`), 'the cpu request it has is not reported');
  });

  it('reports a single missing limit in an otherwise compliant rendering', () => {
    const resources = structuredClone(resourcesOf('prod'));
    const gateway = resources.find((r) => r.kind === 'Deployment' && r.metadata.name === 'gateway') as Resource;
    const container = podTemplate(gateway)?.spec.containers[0] as { resources: { limits: Record<string, unknown> } };
    delete container.resources.limits['memory'];
    assert.deepEqual(violations(resources), ['Deployment gateway container gateway: no memory limit']);
  });

  it('reports a stream processor without its ScaledObject, and one with replicas of its own', () => {
    const resources = structuredClone(resourcesOf('prod')).filter(
      (r) => !(r.kind === 'ScaledObject' && r.metadata.name === 'stream-candles'),
    );
    const indicators = resources.find((r) => r.kind === 'Deployment' && r.metadata.name === 'stream-indicators');
    (indicators?.['spec'] as Record<string, unknown>)['replicas'] = 2;
    assert.deepEqual(violations(resources), [
      'Deployment stream-candles: no ScaledObject (replicas from consumer lag)',
      'Deployment stream-indicators: sets replicas, which its ScaledObject owns',
    ]);
  });

  it('reports a pod given a store whose NetworkPolicy label it lacks', () => {
    const resources = structuredClone(resourcesOf('prod'));
    const writer = resources.find((r) => r.kind === 'Deployment' && r.metadata.name === 'stream-store-writer');
    delete podTemplate(writer as Resource)?.metadata?.labels?.['tickcast.io/uses-postgres'];
    assert.deepEqual(violations(resources), [
      'Deployment stream-store-writer container processor: sets DATABASE_URL but its pods lack tickcast.io/uses-postgres',
    ]);
  });

  it('reports a gateway that lost its autoscaler', () => {
    const resources = resourcesOf('prod').filter(
      (r) => !(r.kind === 'HorizontalPodAutoscaler' && r.metadata.name === 'gateway'),
    );
    assert.deepEqual(violations(resources), ['Deployment gateway: no HorizontalPodAutoscaler']);
  });
});
