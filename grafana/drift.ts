/**
 * Checks every query of the provisioned dashboards and alert rules against what the code
 * produces (grafana/produced.ts): each Prometheus metric and label is declared, each SQL
 * relation and column is in the DDL of the database its datasource points at, each
 * Elasticsearch datasource reads an index the store writes and each field it names is
 * mapped. Returns one line per problem, naming the dashboard, panel and query.
 */
import type { MetricFamily } from './produced.ts';
import { promqlReferences } from './promql.ts';
import { sqlReferences } from './sql.ts';

export interface Produced {
  readonly metrics: ReadonlyMap<string, MetricFamily>;
  readonly targetLabels: ReadonlySet<string>;
  /** Relations (with columns) per SQL datasource uid. */
  readonly relations: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;
  /** Index pattern -> mapped fields. */
  readonly indices: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface Datasource {
  readonly uid: string;
  readonly type: string;
  readonly jsonData?: { readonly index?: string; readonly timeField?: string };
}

/** One query, wherever it lives (a dashboard panel's target, an alert rule's data). */
export interface Query {
  readonly where: string;
  readonly datasourceUid: string;
  readonly expr?: string;
  readonly rawSql?: string;
  readonly query?: string;
  readonly timeField?: string;
  readonly metrics?: readonly { readonly field?: string }[];
  readonly bucketAggs?: readonly { readonly field?: string }[];
}

interface Panel {
  title?: string;
  datasource?: { uid?: string };
  targets?: (Omit<Query, 'where' | 'datasourceUid'> & { refId?: string; datasource?: { uid?: string } })[];
  panels?: Panel[];
}

export function dashboardQueries(file: string, dashboard: { title?: string; panels?: Panel[] }): Query[] {
  const queries: Query[] = [];
  const visit = (panel: Panel): void => {
    for (const target of panel.targets ?? [])
      queries.push({
        ...target,
        where: `${file} "${panel.title ?? '?'}" ${target.refId ?? '?'}`,
        datasourceUid: target.datasource?.uid ?? panel.datasource?.uid ?? '',
      });
    (panel.panels ?? []).forEach(visit);
  };
  (dashboard.panels ?? []).forEach(visit);
  return queries;
}

interface AlertFile {
  groups: { rules: { title: string; data: { refId: string; datasourceUid: string; model: { expr?: string } }[] }[] }[];
}

export function alertQueries(file: string, alerts: AlertFile): Query[] {
  return alerts.groups.flatMap((group) =>
    group.rules.flatMap((rule) =>
      rule.data
        .filter((data) => data.datasourceUid !== '__expr__')
        .map((data) => ({
          ...data.model,
          where: `${file} "${rule.title}" ${data.refId}`,
          datasourceUid: data.datasourceUid,
        })),
    ),
  );
}

const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;

function promProblems(query: Query, produced: Produced): string[] {
  const refs = promqlReferences(query.expr ?? '');
  const out = refs.unknownFunctions.map((f) => `${query.where}: ${f}() is not a PromQL function`);
  const families: MetricFamily[] = [];
  for (const name of refs.metrics) {
    const direct = produced.metrics.get(name);
    const base = produced.metrics.get(name.replace(HISTOGRAM_SERIES, ''));
    const family = direct ?? (base && (base.type === 'histogram' || base.type === 'summary') ? base : undefined);
    if (!family) out.push(`${query.where}: metric ${name} is not produced by the code or a declared exporter`);
    else families.push(family);
    if (!direct && family && name.endsWith('_bucket')) families.push({ type: 'histogram', labels: new Set(['le']) });
  }
  if (refs.metrics.length === 0) out.push(`${query.where}: names no metric`);
  for (const label of refs.labels)
    if (!produced.targetLabels.has(label) && !families.some((f) => f.labels.has(label)))
      out.push(`${query.where}: label ${label} is on none of its metrics`);
  return out;
}

function sqlProblems(query: Query, relations: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const refs = sqlReferences(query.rawSql ?? '');
  const out: string[] = [];
  for (const relation of refs.relations)
    if (!relations.has(relation)) out.push(`${query.where}: relation ${relation} is not in the DDL`);
  if (refs.relations.length === 0) out.push(`${query.where}: reads no relation`);
  for (const column of refs.columns) {
    const sources = column.qualifier ? [refs.aliases.get(column.qualifier) ?? column.qualifier] : refs.relations;
    if (!sources.some((relation) => relations.get(relation)?.has(column.name)))
      out.push(`${query.where}: column ${column.name} is in none of ${sources.join(', ')}`);
  }
  return out;
}

/** Field names in a Lucene query string: `field:value` and `_exists_:field`. */
function luceneFields(query: string): string[] {
  const text = query.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...text.matchAll(/(_exists_:)?([\w.]+):?/g)]
    .filter((m) => m[1] !== undefined || m[0].endsWith(':'))
    .map((m) => m[2] as string)
    .filter((field) => field !== '_exists_');
}

function esProblems(query: Query, datasource: Datasource, produced: Produced): string[] {
  const index = datasource.jsonData?.index ?? '';
  const fields = produced.indices.get(index);
  if (!fields) return [`${query.where}: index ${index} is not one the Elasticsearch store writes`];
  const named = [
    query.timeField ?? datasource.jsonData?.timeField,
    ...(query.metrics ?? []).map((m) => m.field),
    ...(query.bucketAggs ?? []).map((b) => b.field),
    ...luceneFields(query.query ?? ''),
  ].filter((f): f is string => f !== undefined);
  return named.filter((f) => !fields.has(f)).map((f) => `${query.where}: field ${f} is not mapped in ${index}`);
}

export function queryProblems(
  queries: readonly Query[],
  datasources: readonly Datasource[],
  produced: Produced,
): string[] {
  const byUid = new Map(datasources.map((d) => [d.uid, d]));
  return queries.flatMap((query) => {
    const datasource = byUid.get(query.datasourceUid);
    if (!datasource) return [`${query.where}: datasource ${query.datasourceUid || '(none)'} is not provisioned`];
    if (datasource.type === 'prometheus') return promProblems(query, produced);
    if (datasource.type === 'elasticsearch') return esProblems(query, datasource, produced);
    const relations = produced.relations.get(datasource.uid);
    if (!relations) return [`${query.where}: no DDL is known for datasource ${datasource.uid}`];
    return sqlProblems(query, relations);
  });
}
