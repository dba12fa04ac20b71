/**
 * The policies every rendered manifest meets, beyond what the schemas check:
 *
 * - every container of a workload has CPU and memory requests and limits;
 * - every long-running container (Deployment, StatefulSet) has readiness and liveness probes;
 * - every pod runs as a non-root user, without privilege escalation, with all capabilities dropped;
 * - no credential is written in the repository: secret-looking variables come from a
 *   Secret, no URL carries a literal password, no Secret with data is rendered;
 * - every tickcast pod reads its configuration from the tickcast ConfigMap and sits behind
 *   a default-deny NetworkPolicy; every Deployment has a PodDisruptionBudget; the gateway
 *   and each subgraph have a HorizontalPodAutoscaler, and the gateway a Service and an Ingress;
 * - every stream processor has a KEDA ScaledObject (replicas from consumer lag) and no
 *   `replicas` of its own, which every apply would reset under the autoscaler;
 * - a pod given DATABASE_URL or ELASTICSEARCH_URL carries the tickcast.io/uses-<dependency>
 *   label whose NetworkPolicy lets it reach that store.
 *
 * `violations()` returns one line per breach, naming the resource and the container.
 */
import type { Resource } from './render.ts';

type Json = Record<string, unknown>;

interface Container {
  name: string;
  resources?: { requests?: Json; limits?: Json };
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[] };
  };
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: unknown } }[];
  envFrom?: { configMapRef?: { name: string } }[];
}

interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  initContainers?: Container[];
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'Job', 'CronJob']);
const LONG_RUNNING = new Set(['Deployment', 'StatefulSet']);

/** The ConfigMap every tickcast service reads (k8s/base/tickcast/config.yaml). */
export const TICKCAST_CONFIG = 'tickcast-config';
const PART_OF_TICKCAST = 'tickcast';
/** app.kubernetes.io/component of the stream processors' Deployments. */
export const STREAM_COMPONENT = 'stream';

/** Variable names that hold credentials. */
const SECRET_NAME = /(PASSWORD|SECRET|TOKEN|API_KEYS?|CREDENTIALS?|PRIVATE_KEY)$/i;
/** user:password@ in a URL, unless the password is a $(VARIABLE) the kubelet fills in from a Secret. */
const URL_WITH_PASSWORD = /:\/\/[^/\s:@]+:(?!\$\()[^/\s@]+@/;

const json = (value: unknown): Json => (typeof value === 'object' && value !== null ? (value as Json) : {});

export function podTemplate(resource: Resource): PodTemplate | undefined {
  const spec = json(resource['spec']);
  if (resource.kind === 'CronJob')
    return json(json(json(spec['jobTemplate'])['spec'])['template']) as unknown as PodTemplate;
  if (WORKLOADS.has(resource.kind)) return json(spec['template']) as unknown as PodTemplate;
  return undefined;
}

const id = (resource: Resource): string => `${resource.kind} ${resource.metadata.name}`;

function containerViolations(resource: Resource, pod: PodSpec, container: Container, init: boolean): string[] {
  const where = `${id(resource)} container ${container.name}`;
  const out: string[] = [];
  for (const kind of ['requests', 'limits'] as const)
    for (const resourceName of ['cpu', 'memory'])
      if (container.resources?.[kind]?.[resourceName] === undefined)
        out.push(`${where}: no ${resourceName} ${kind.slice(0, -1)}`);
  if (!init && LONG_RUNNING.has(resource.kind)) {
    if (!container.readinessProbe) out.push(`${where}: no readiness probe`);
    if (!container.livenessProbe) out.push(`${where}: no liveness probe`);
  }
  const security = container.securityContext ?? {};
  const nonRoot = security.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
  const user = security.runAsUser ?? pod.securityContext?.runAsUser;
  if (nonRoot !== true) out.push(`${where}: runAsNonRoot is not true`);
  if (user === undefined || user === 0) out.push(`${where}: runAsUser is not a non-zero uid`);
  if (security.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
  if (security.privileged === true) out.push(`${where}: privileged`);
  if (!security.capabilities?.drop?.includes('ALL')) out.push(`${where}: capabilities not dropped (drop: [ALL])`);
  for (const variable of container.env ?? []) {
    if (SECRET_NAME.test(variable.name) && !variable.valueFrom?.secretKeyRef)
      out.push(`${where}: ${variable.name} looks like a credential but is not read from a Secret`);
    if (variable.value !== undefined && URL_WITH_PASSWORD.test(variable.value))
      out.push(`${where}: ${variable.name} holds a URL with a literal password`);
  }
  return out;
}

/** The store a variable points at, and the pod label that opens the way to it (k8s/base/tickcast/network-policies.yaml). */
const STORE_VARIABLES: Record<string, string> = {
  DATABASE_URL: 'tickcast.io/uses-postgres',
  ELASTICSEARCH_URL: 'tickcast.io/uses-elasticsearch',
};

function isTickcastPod(pod: PodTemplate): boolean {
  return pod.metadata?.labels?.['app.kubernetes.io/part-of'] === PART_OF_TICKCAST;
}

function selects(selector: unknown, labels: Record<string, string>): boolean {
  const match = json(json(selector)['matchLabels']) as Record<string, string>;
  return Object.entries(match).every(([key, value]) => labels[key] === value);
}

export function violations(resources: readonly Resource[]): string[] {
  const out: string[] = [];
  const ofKind = (kind: string) => resources.filter((r) => r.kind === kind);

  for (const resource of resources) {
    const pod = podTemplate(resource);
    if (pod) {
      for (const container of pod.spec.initContainers ?? [])
        out.push(...containerViolations(resource, pod.spec, container, true));
      for (const container of pod.spec.containers)
        out.push(...containerViolations(resource, pod.spec, container, false));
      if (isTickcastPod(pod)) {
        for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers])
          if (!container.envFrom?.some((source) => source.configMapRef?.name === TICKCAST_CONFIG))
            out.push(`${id(resource)} container ${container.name}: does not read ConfigMap ${TICKCAST_CONFIG}`);
        const labels = pod.metadata?.labels ?? {};
        const denied = ofKind('NetworkPolicy').some((policy) => {
          const spec = json(policy['spec']);
          const types = (spec['policyTypes'] as string[] | undefined) ?? [];
          return types.includes('Ingress') && types.includes('Egress') && selects(spec['podSelector'], labels);
        });
        if (!denied) out.push(`${id(resource)}: no default-deny NetworkPolicy (Ingress and Egress) selects its pods`);
        for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers])
          for (const variable of container.env ?? []) {
            const label = STORE_VARIABLES[variable.name];
            if (label !== undefined && labels[label] !== 'true')
              out.push(`${id(resource)} container ${container.name}: sets ${variable.name} but its pods lack ${label}`);
          }
      }
    }
    if (resource.kind === 'Secret' && (resource['data'] !== undefined || resource['stringData'] !== undefined))
      out.push(`${id(resource)}: a Secret with data is in the repository; create it in the cluster instead`);
    if (resource.kind === 'ConfigMap') {
      for (const [key, value] of Object.entries(json(resource['data']))) {
        if (SECRET_NAME.test(key)) out.push(`${id(resource)}: key ${key} looks like a credential`);
        if (typeof value === 'string' && URL_WITH_PASSWORD.test(value))
          out.push(`${id(resource)}: key ${key} holds a URL with a literal password`);
      }
    }
  }

  for (const deployment of ofKind('Deployment')) {
    const labels = podTemplate(deployment)?.metadata?.labels ?? {};
    if (!ofKind('PodDisruptionBudget').some((pdb) => selects(json(pdb['spec'])['selector'], labels)))
      out.push(`${id(deployment)}: no PodDisruptionBudget`);
  }
  const scaleTarget = (autoscaler: Resource) => String(json(json(autoscaler['spec'])['scaleTargetRef'])['name']);
  const autoscaled = new Set(ofKind('HorizontalPodAutoscaler').map(scaleTarget));
  const scaledOnLag = new Set(ofKind('ScaledObject').map(scaleTarget));
  for (const deployment of ofKind('Deployment')) {
    const name = deployment.metadata.name;
    if ((name === 'gateway' || name.startsWith('subgraph-')) && !autoscaled.has(name))
      out.push(`${id(deployment)}: no HorizontalPodAutoscaler`);
    if (deployment.metadata.labels?.['app.kubernetes.io/component'] === STREAM_COMPONENT) {
      if (!scaledOnLag.has(name)) out.push(`${id(deployment)}: no ScaledObject (replicas from consumer lag)`);
      if (json(deployment['spec'])['replicas'] !== undefined)
        out.push(`${id(deployment)}: sets replicas, which its ScaledObject owns`);
    }
  }
  if (!ofKind('Service').some((s) => s.metadata.name === 'gateway')) out.push('gateway: no Service');
  if (!ofKind('Ingress').some((i) => JSON.stringify(i['spec']).includes('"name":"gateway"')))
    out.push('gateway: no Ingress routes to its Service');
  return out;
}
