/**
 * Writes the JSON schemas kubeconform validates k8s/ against (k8s/schemas/), offline:
 * core kinds from the Kubernetes OpenAPI spec (swagger.json), custom resources from their
 * CRDs. Only the kinds tickcast's manifests use are written, each file standalone (the
 * definitions it reaches are embedded), in kubeconform's strict flavour: an object with
 * declared properties rejects unknown ones, so a misspelled field fails validation.
 *
 *   tsx scripts/k8s-schemas.ts --swagger swagger.json --crd a.yaml --crd b.yaml --out k8s/schemas
 *
 * `scripts/k8s-schemas` fetches the inputs (pinned versions) and runs this.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';

/** The kinds the manifests use; kubeconform fails on a kind without a schema, so a new kind is added here. */
export const CORE_KINDS = [
  { group: '', version: 'v1', kind: 'ConfigMap' },
  { group: '', version: 'v1', kind: 'Namespace' },
  { group: '', version: 'v1', kind: 'PersistentVolumeClaim' },
  { group: '', version: 'v1', kind: 'Service' },
  { group: '', version: 'v1', kind: 'ServiceAccount' },
  { group: 'apps', version: 'v1', kind: 'Deployment' },
  { group: 'apps', version: 'v1', kind: 'StatefulSet' },
  { group: 'batch', version: 'v1', kind: 'Job' },
  { group: 'batch', version: 'v1', kind: 'CronJob' },
  { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler' },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget' },
  { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy' },
  { group: 'networking.k8s.io', version: 'v1', kind: 'Ingress' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding' },
] as const;

type Schema = Record<string, unknown>;

/** kubeconform's file name for a kind: `{{ .ResourceKind }}{{ .KindSuffix }}.json` (pkg/registry/registry.go). */
export function schemaFileName(apiVersion: string, kind: string): string {
  const [groupOrVersion, version] = apiVersion.split('/') as [string, string | undefined];
  const suffix = version === undefined ? groupOrVersion : `${groupOrVersion.split('.')[0]}-${version}`;
  return `${kind.toLowerCase()}-${suffix.toLowerCase()}.json`;
}

const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * One schema node in kubeconform's form: int-or-string becomes a choice of the two, nullable
 * admits null, descriptions and vendor extensions go (they are most of the bytes), and an
 * object with declared properties rejects others unless the API keeps unknown fields.
 */
export function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!isObject(node)) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' || key.startsWith('x-')) continue;
    if (key === 'properties' || key === 'definitions' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, toJsonSchema(v)]));
    } else if (key === 'format' && value === 'int-or-string') {
      continue;
    } else if (key !== 'nullable') {
      out[key] = toJsonSchema(value);
    }
  }
  if (node['format'] === 'int-or-string' || node['x-kubernetes-int-or-string'] === true) {
    delete out['type'];
    out['anyOf'] = [{ type: 'string' }, { type: 'integer' }];
  }
  if (node['nullable'] === true && typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
  if (
    isObject(node['properties']) &&
    !('additionalProperties' in node) &&
    !node['x-kubernetes-preserve-unknown-fields']
  )
    out['additionalProperties'] = false;
  return out;
}

/** Names of the definitions `root` reaches through `#/definitions/...` references. */
function reachable(root: unknown, definitions: Schema): Set<string> {
  const seen = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (isObject(node)) {
      const ref = node['$ref'];
      if (typeof ref === 'string' && ref.startsWith('#/definitions/')) {
        const name = ref.slice('#/definitions/'.length);
        if (!seen.has(name)) {
          seen.add(name);
          visit(definitions[name]);
        }
      }
      Object.values(node).forEach(visit);
    }
  };
  visit(root);
  return seen;
}

export function coreSchema(swagger: { definitions: Schema }, wanted: { group: string; version: string; kind: string }) {
  const entry = Object.entries(swagger.definitions).find(([, definition]) =>
    ((definition as Schema)['x-kubernetes-group-version-kind'] as Schema[] | undefined)?.some(
      (gvk) => gvk['group'] === wanted.group && gvk['version'] === wanted.version && gvk['kind'] === wanted.kind,
    ),
  );
  if (!entry) throw new Error(`no definition for ${wanted.group}/${wanted.version} ${wanted.kind} in the spec`);
  const [name, root] = entry;
  const names = [...reachable(root, swagger.definitions)].filter((n) => n !== name).sort();
  const definitions = Object.fromEntries(names.map((n) => [n, toJsonSchema(swagger.definitions[n])]));
  // The root refers to itself by its definition name nowhere; keep it inline.
  return { ...(toJsonSchema(root) as Schema), ...(names.length > 0 ? { definitions } : {}) };
}

interface Crd {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; schema?: { openAPIV3Schema: Schema } }[];
  };
}

/** One schema per served version of a CRD, keyed by file name. */
export function crdSchemas(crd: Crd): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const version of crd.spec.versions) {
    if (!version.schema) continue;
    out.set(
      schemaFileName(`${crd.spec.group}/${version.name}`, crd.spec.names.kind),
      toJsonSchema(version.schema.openAPIV3Schema),
    );
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      swagger: { type: 'string' },
      crd: { type: 'string', multiple: true },
      out: { type: 'string' },
    },
  });
  if (!values.swagger || !values.out || !values.crd) throw new Error('usage: --swagger FILE --crd FILE... --out DIR');
  const files = new Map<string, unknown>();
  const swagger = JSON.parse(await readFile(values.swagger, 'utf8')) as { definitions: Schema };
  for (const kind of CORE_KINDS)
    files.set(
      schemaFileName(kind.group ? `${kind.group}/${kind.version}` : kind.version, kind.kind),
      coreSchema(swagger, kind),
    );
  for (const file of values.crd) {
    for (const document of parseAllDocuments(await readFile(file, 'utf8'))) {
      const crd = document.toJS() as Crd | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      for (const [name, schema] of crdSchemas(crd)) files.set(name, schema);
    }
  }
  await rm(values.out, { recursive: true, force: true });
  await mkdir(values.out, { recursive: true });
  for (const [name, schema] of [...files].sort(([a], [b]) => a.localeCompare(b)))
    await writeFile(join(values.out, name), `${JSON.stringify(schema)}\n`);
  process.stderr.write(`${files.size} schemas in ${values.out}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
