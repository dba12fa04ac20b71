/**
 * Renders a kustomize overlay of k8s/overlays into resources, with the kustomize that
 * scripts/k8s-tools builds (the same one `npm run check:k8s` and CI use).
 */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const OVERLAYS = ['dev', 'prod'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** A Kubernetes resource as rendered: only what every resource has is typed. */
export interface Resource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

export function parseResources(yamlText: string): Resource[] {
  return parseAllDocuments(yamlText)
    .map((document) => document.toJS() as Resource | null)
    .filter((resource): resource is Resource => resource !== null);
}

export async function renderOverlay(overlay: Overlay): Promise<Resource[]> {
  const tools = (await run(join(repoRoot, 'scripts/k8s-tools'), { cwd: repoRoot })).stdout.trim();
  const { stdout } = await run(
    join(tools, 'kustomize'),
    ['build', '--load-restrictor', 'LoadRestrictionsNone', join(repoRoot, 'k8s/overlays', overlay)],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return parseResources(stdout);
}
