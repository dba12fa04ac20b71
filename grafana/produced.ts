/**
 * What the code actually produces, as the dashboards may name it: the Prometheus metrics
 * of the process registry (lib/metrics.ts) with their labels, the tables and views of the
 * DDL with their columns, and the Elasticsearch indices with their mapped fields.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registry } from '../lib/metrics.ts';
import {
  DEFAULT_INDEX_PREFIX,
  PERFORMANCE_PROPERTIES,
  PREDICTION_PROPERTIES,
  performanceTemplate,
  predictionsTemplate,
} from '../streams/predictions-store/elasticsearch.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface MetricFamily {
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly labels: ReadonlySet<string>;
}

/** Where modules that declare metrics live (cli/ only wires them together). */
const SOURCE_DIRS = ['lib', 'streams', 'gateway', 'subgraphs', 'registry', 'training'];
const DECLARES_METRICS = /\b(counter|gauge|histogram)\(\s*['"]tickcast_/;

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(repoRoot, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => !relative(repoRoot, path).split('/').includes('generated'));
}

/**
 * Every metric family the services can expose: each module that declares a metric is
 * imported, so its declarations register, and the registry (default process metrics
 * included) is read back. A metric only a dashboard knows is not here.
 */
export async function declaredMetrics(): Promise<Map<string, MetricFamily>> {
  for (const dir of SOURCE_DIRS)
    for (const file of await sourceFiles(dir))
      if (DECLARES_METRICS.test(await readFile(file, 'utf8'))) await import(pathToFileURL(file).href);
  const families = new Map<string, MetricFamily>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const declared = registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] };
    const labels = new Set([...(declared.labelNames ?? []), ...metric.values.flatMap((v) => Object.keys(v.labels))]);
    families.set(metric.name, { type: metric.type as unknown as MetricFamily['type'], labels });
  }
  return families;
}

/**
 * Metrics tickcast's deployment scrapes from something other than tickcast's code:
 * Strimzi's Kafka Exporter (kafkaExporter in k8s/base/kafka/kafka.yaml; names as in
 * danielqsj/kafka_exporter). Listed one by one so a dashboard cannot name an arbitrary
 * kafka_* metric.
 */
export const KAFKA_EXPORTER_METRICS: ReadonlyMap<string, MetricFamily> = new Map(
  (
    [
      ['kafka_consumergroup_lag', ['consumergroup', 'topic', 'partition']],
      ['kafka_consumergroup_lag_sum', ['consumergroup', 'topic']],
      ['kafka_consumergroup_current_offset', ['consumergroup', 'topic', 'partition']],
      ['kafka_topic_partition_current_offset', ['topic', 'partition']],
    ] as const
  ).map(([name, labels]) => [name, { type: 'gauge', labels: new Set(labels) }]),
);

/** Labels Prometheus adds to every scraped series (k8s/base/prometheus/prometheus.yaml relabelling). */
export const TARGET_LABELS: ReadonlySet<string> = new Set(['job', 'instance', 'service', 'pod']);

/** Tables and views with their columns, from the CREATE/ALTER statements of a DDL directory. */
export async function ddlRelations(dir: string): Promise<Map<string, Set<string>>> {
  const files = (await readdir(join(repoRoot, dir))).filter((f) => f.endsWith('.sql')).sort();
  const relations = new Map<string, Set<string>>();
  for (const file of files) {
    const sql = (await readFile(join(repoRoot, dir, file), 'utf8')).replace(/--[^\n]*/g, '');
    for (const statement of sql.split(';')) parseStatement(statement.trim(), relations);
  }
  return relations;
}

const unquote = (identifier: string): string =>
  identifier.startsWith('"') ? identifier.slice(1, -1) : identifier.toLowerCase();

function parseStatement(statement: string, relations: Map<string, Set<string>>): void {
  const table = /^CREATE TABLE (?:IF NOT EXISTS )?(\w+)\s*\(([\s\S]*)\)\s*(?:WITH[\s\S]*)?$/i.exec(statement);
  if (table) {
    const columns = new Set<string>();
    for (const line of splitTopLevel(table[2] as string)) {
      const name = /^\s*("[^"]+"|\w+)/.exec(line)?.[1];
      if (name && !/^(PRIMARY|UNIQUE|CONSTRAINT|CHECK|FOREIGN)$/i.test(name)) columns.add(unquote(name));
    }
    relations.set((table[1] as string).toLowerCase(), columns);
    return;
  }
  const alter = /^ALTER TABLE (\w+)([\s\S]*)$/i.exec(statement);
  if (alter) {
    const columns = relations.get((alter[1] as string).toLowerCase());
    for (const match of (alter[2] as string).matchAll(/ADD COLUMN (?:IF NOT EXISTS )?("[^"]+"|\w+)/gi))
      columns?.add(unquote(match[1] as string));
    return;
  }
  const view = /^CREATE (?:MATERIALIZED )?VIEW (?:IF NOT EXISTS )?(\w+) AS\s+([\s\S]*)$/i.exec(statement);
  if (view) relations.set((view[1] as string).toLowerCase(), viewColumns(view[2] as string, relations));
}

/** A view's columns: its select list's output names, and all columns of the relation behind a `*`. */
function viewColumns(query: string, relations: Map<string, Set<string>>): Set<string> {
  const columns = new Set<string>();
  for (const select of query.matchAll(/SELECT\s+(?:DISTINCT ON \([^)]*\)\s+)?([\s\S]*?)\s+FROM\s+(\(|\w+)/gi)) {
    for (const item of splitTopLevel(select[1] as string)) {
      if (item.trim() === '*') {
        const source = relations.get((select[2] as string).toLowerCase());
        if (source) for (const column of source) columns.add(column);
        continue;
      }
      const name = /(?:AS\s+)?("[^"]+"|\w+)\s*$/i.exec(item.trim())?.[1];
      if (name) columns.add(unquote(name));
    }
  }
  return columns;
}

/** Splits at commas outside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  if (current.trim()) parts.push(current);
  return parts;
}

/** The index patterns the Elasticsearch store writes, each with the fields its template maps. */
export function elasticsearchIndices(): Map<string, ReadonlySet<string>> {
  const indices = new Map<string, ReadonlySet<string>>();
  for (const [template, properties] of [
    [predictionsTemplate(DEFAULT_INDEX_PREFIX), PREDICTION_PROPERTIES],
    [performanceTemplate(DEFAULT_INDEX_PREFIX), PERFORMANCE_PROPERTIES],
  ] as const)
    for (const pattern of [template.index_patterns].flat())
      if (pattern) indices.set(pattern, new Set(Object.keys(properties)));
  return indices;
}
