/**
 * The rendered overlays against the policies (k8s/policy.ts) and against the code: a
 * KafkaTopic per declared topic with the declared partitions, retention and cleanup, and
 * a Deployment per stream processor and subgraph running the matching command.
 * Schema validation is `npm run check:k8s` (kubeconform).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { OVERLAYS, parseResources, renderOverlay, type Overlay, type Resource } from './render.ts';
import { podTemplate, violations } from './policy.ts';
import { TOPICS, changelogTopic } from '../schema/topics.ts';
import { PROCESSORS } from '../streams/runtime.ts';
import { SUBGRAPHS } from '../schema/subgraphs.ts';

/** The processors that keep state in a changelog (bus.runStateful in streams/runtime.ts). */
const STATEFUL_PROCESSORS = [
  'candles',
  'indicators',
  'predictor',
  'monitor',
  'sentiment-extractor',
  'sentiment-features',
];

const rendered = new Map<Overlay, Resource[]>();
before(async () => {
  for (const overlay of OVERLAYS) rendered.set(overlay, await renderOverlay(overlay));
});
const resourcesOf = (overlay: Overlay): Resource[] => rendered.get(overlay) ?? assert.fail(`${overlay} not rendered`);

interface ContainerSpec {
  command?: string[];
  args?: string[];
}
const mainContainer = (resource: Resource): ContainerSpec =>
  (podTemplate(resource)?.spec.containers[0] ?? {}) as ContainerSpec;

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
        assert.equal(spec.partitions, topic.partitions, `${topic.name} partitions`);
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

  it('reports a gateway that lost its autoscaler', () => {
    const resources = resourcesOf('prod').filter(
      (r) => !(r.kind === 'HorizontalPodAutoscaler' && r.metadata.name === 'gateway'),
    );
    assert.deepEqual(violations(resources), ['Deployment gateway: no HorizontalPodAutoscaler']);
  });
});
