/**
 * Turns a rendered Deployment into the command line, environment and readiness probe a
 * local process needs to run it the way the kubelet would: the container's command and
 * args verbatim, its environment from the ConfigMaps it names and its own `env` entries
 * ($(VAR) references expanded), every container port moved to a free local port, and the
 * addresses of in-cluster services replaced by the caller's local ones.
 */
import type { Resource } from '../../k8s/render.ts';
import { podTemplate } from '../../k8s/policy.ts';
import { freePort } from './ports.ts';

interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string };
  };
}

interface ContainerSpec {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvEntry[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
}

export interface LocalLaunch {
  readonly name: string;
  /** The container's command and args, exactly as in the manifest. */
  readonly command: string[];
  readonly env: Record<string, string>;
  /** Manifest container port -> local port. */
  readonly ports: ReadonlyMap<number, number>;
  readonly readiness: { readonly path: string; readonly port: number };
}

export interface LaunchContext {
  readonly configMaps: ReadonlyMap<string, Record<string, string>>;
  /** What the secrets the manifest reads hold here (name/key -> value). */
  readonly secrets: ReadonlyMap<string, string>;
}

const expand = (value: string, env: Record<string, string>): string =>
  value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);

export function configMapsOf(resources: readonly Resource[]): Map<string, Record<string, string>> {
  return new Map(
    resources
      .filter((r) => r.kind === 'ConfigMap')
      .map((r) => [r.metadata.name, (r['data'] ?? {}) as Record<string, string>]),
  );
}

export async function localLaunch(deployment: Resource, context: LaunchContext): Promise<LocalLaunch> {
  const container = podTemplate(deployment)?.spec.containers[0] as ContainerSpec | undefined;
  if (!container) throw new Error(`${deployment.metadata.name}: no container`);
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    const data = name === undefined ? undefined : context.configMaps.get(name);
    if (!data) throw new Error(`${deployment.metadata.name}: ConfigMap ${name} is not rendered`);
    Object.assign(env, data);
  }
  for (const entry of container.env ?? []) {
    const secret = entry.valueFrom?.secretKeyRef;
    const configMapKey = entry.valueFrom?.configMapKeyRef;
    if (entry.value !== undefined) env[entry.name] = expand(entry.value, env);
    else if (secret) {
      const value = context.secrets.get(`${secret.name}/${secret.key}`);
      // An optional secret that does not exist leaves the variable unset, as the kubelet does.
      if (value === undefined && secret.optional === true) continue;
      if (value === undefined)
        throw new Error(`${deployment.metadata.name}: no local value for secret ${secret.name}/${secret.key}`);
      env[entry.name] = value;
    } else if (configMapKey) {
      const value = context.configMaps.get(configMapKey.name)?.[configMapKey.key];
      if (value !== undefined) env[entry.name] = value;
    }
  }
  const ports = new Map<number, number>();
  for (const port of container.ports ?? []) ports.set(port.containerPort, await freePort());
  // A variable holding one of the container's ports (METRICS_PORT, SUBGRAPH_PORT, GATEWAY_PORT) follows it.
  for (const [name, value] of Object.entries(env)) {
    const local = ports.get(Number(value));
    if (/_PORT$/.test(name) && local !== undefined) env[name] = String(local);
  }
  const probe = container.readinessProbe?.httpGet;
  if (!probe) throw new Error(`${deployment.metadata.name}: no HTTP readiness probe`);
  const probePort =
    typeof probe.port === 'number' ? probe.port : container.ports?.find((p) => p.name === probe.port)?.containerPort;
  const localProbePort = probePort === undefined ? undefined : ports.get(probePort);
  if (localProbePort === undefined)
    throw new Error(`${deployment.metadata.name}: readiness probe port ${probe.port} is not a container port`);
  return {
    name: deployment.metadata.name,
    command: [...(container.command ?? []), ...(container.args ?? [])],
    env,
    ports,
    readiness: { path: probe.path, port: localProbePort },
  };
}

/** The container port a Service forwards to, by Service name (named target ports resolved through the Deployment it selects). */
export function serviceTargets(resources: readonly Resource[]): Map<string, { deployment: string; port: number }> {
  const out = new Map<string, { deployment: string; port: number }>();
  for (const service of resources.filter((r) => r.kind === 'Service')) {
    const spec = service['spec'] as {
      selector?: Record<string, string>;
      ports: { port: number; targetPort?: number | string }[];
    };
    const deployment = resources.find(
      (r) =>
        r.kind === 'Deployment' &&
        Object.entries(spec.selector ?? {}).every(([k, v]) => podTemplate(r)?.metadata?.labels?.[k] === v),
    );
    const container = deployment ? (podTemplate(deployment)?.spec.containers[0] as ContainerSpec) : undefined;
    for (const port of spec.ports) {
      const target = port.targetPort ?? port.port;
      const containerPort =
        typeof target === 'number' ? target : container?.ports?.find((p) => p.name === target)?.containerPort;
      if (deployment && containerPort !== undefined)
        out.set(`${service.metadata.name}:${port.port}`, { deployment: deployment.metadata.name, port: containerPort });
    }
  }
  return out;
}
