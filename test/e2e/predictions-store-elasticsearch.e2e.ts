/**
 * The Elasticsearch predictions store against the real server of `scripts/services`: its
 * index templates, bulk creates, updates and upserts, refresh, pendingDue, and every
 * search and aggregation the Grafana dashboards send (read from grafana/dashboards/*.json,
 * turned into the request Grafana's Elasticsearch datasource builds), each compared with
 * what the written documents say it must answer. The faults a real server does not produce
 * on demand (429 items, 503 requests, a server that is not Elasticsearch) stay in
 * streams/predictions-store/elasticsearch.test.ts on the mock.
 */
// The month boundaries below are UTC; a zone ahead of UTC puts 2023-04-30T23:55Z in May locally.
process.env['TZ'] = 'Asia/Tokyo';

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, type estypes } from '@elastic/elasticsearch';
import { predictionId, type Prediction } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { metricValue } from '../../lib/metrics.ts';
import {
  ElasticsearchPredictionStore,
  PERFORMANCE_PROPERTIES,
  PREDICTION_PROPERTIES,
} from '../../streams/predictions-store/elasticsearch.ts';
import { PredictionsNotStored, type ModelPerformanceRow } from '../../streams/predictions-store/store.ts';
import { deleteIndices } from '../support/services.ts';

const url = process.env['ELASTICSEARCH_URL'];
const PREFIX = `tes${Date.now().toString(36)}`;
const logger = createLogger('silent');
const ES = { backend: 'elasticsearch' };

const APRIL_END = Date.UTC(2023, 3, 30, 23, 55);
const MAY_START = Date.UTC(2023, 4, 1, 0, 0);
const MINUTE = 60_000;

function prediction(pair: string, horizonMinutes: number, madeAt: number, modelVersion: string, n: number): Prediction {
  const basePrice = 29_000 + n;
  return {
    v: 1,
    id: predictionId(pair, horizonMinutes, madeAt),
    pair,
    horizonMinutes,
    madeAt,
    targetTime: madeAt + horizonMinutes * MINUTE,
    basePrice,
    predictedLogReturn: 0.001,
    predictedPrice: basePrice + 29.01,
    lowerBound: n % 3 === 0 ? null : basePrice - 100,
    upperBound: basePrice + 150,
    modelName: 'linear',
    modelVersion,
  };
}

// Ten minutes across the April/May boundary, two markets, two horizons, two model versions.
const PREDICTIONS: Prediction[] = [];
for (let i = 0; i < 10; i++) {
  const madeAt = APRIL_END + i * MINUTE;
  const version = i < 6 ? '3' : '4';
  PREDICTIONS.push(prediction('BTC/USD', 5, madeAt, version, i), prediction('BTC/USD', 15, madeAt, version, 100 + i));
  PREDICTIONS.push(prediction('ETH/USD', 5, madeAt, version, 200 + i));
}
/** Now for pendingDue: the targets of the first few BTC 5-minute predictions have passed. */
const NOW = APRIL_END + 9 * MINUTE;
const OUTCOMES = PREDICTIONS.filter((p) => p.targetTime <= NOW - 2 * MINUTE).map((p, i) => ({
  id: p.id,
  actualPrice: p.predictedPrice + i - 2,
  error: i - 2,
}));

const PERFORMANCE: ModelPerformanceRow[] = ['3', '4'].flatMap((version, v) =>
  [5, 15].map((horizonMinutes, h) => ({
    modelName: 'linear',
    modelVersion: version,
    pair: 'BTC/USD',
    horizonMinutes,
    count: 50 + v + h,
    mae: 20 + v + h,
    rmse: 30 + v,
    mape: 0.001,
    directionalAccuracy: 0.5 + v / 10,
    intervalCoverage: h === 0 ? 0.9 : null,
    updatedAt: MAY_START + (v * 2 + h) * MINUTE,
  })),
);

/** A stored document as Elasticsearch holds it: the prediction, with its outcome once recorded. */
type Doc = Record<string, unknown>;
const expectedPredictionDocs = (): Doc[] =>
  PREDICTIONS.map((p) => {
    const outcome = OUTCOMES.find((o) => o.id === p.id);
    return outcome ? { ...p, actualPrice: outcome.actualPrice, error: outcome.error } : { ...p };
  });

async function rejection(promise: Promise<unknown>): Promise<TickcastError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TickcastError, `expected a TickcastError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

// ---- Grafana's Elasticsearch queries, as its datasource sends them ----------------------------

interface GrafanaTarget {
  readonly refId: string;
  readonly datasource: { type: string; uid: string };
  readonly query: string;
  readonly metrics: { type: string; field: string }[];
  readonly bucketAggs: { type: string; field: string; settings?: Record<string, string> }[];
  readonly timeField: string;
}

function dashboardTargets(): { where: string; target: GrafanaTarget }[] {
  const dir = join(import.meta.dirname, '../../grafana/dashboards');
  const found: { where: string; target: GrafanaTarget }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      panels?: { title: string; targets?: GrafanaTarget[] }[];
    };
    for (const panel of dashboard.panels ?? [])
      for (const target of panel.targets ?? [])
        if (target.datasource?.type === 'elasticsearch')
          found.push({ where: `${file} "${panel.title}" ${target.refId}`, target });
  }
  return found;
}

const VARIABLES: Record<string, string> = { pair: 'BTC/USD', horizon: '5' };
const substitute = (query: string): string => query.replace(/\$(\w+)/g, (_, name: string) => VARIABLES[name] ?? '');

/** The search Grafana sends for a target: query_string over the time range, nested bucket aggregations, the metric innermost. */
function grafanaSearch(target: GrafanaTarget, index: string, from: number, to: number): estypes.SearchRequest {
  const metric = target.metrics[0];
  assert.ok(metric && target.metrics.length === 1, 'one metric per target');
  let aggs: Record<string, estypes.AggregationsAggregationContainer> = {
    m: { [metric.type]: { field: metric.field } } as estypes.AggregationsAggregationContainer,
  };
  for (const bucket of [...target.bucketAggs].reverse()) {
    const settings = bucket.settings ?? {};
    const container: estypes.AggregationsAggregationContainer =
      bucket.type === 'terms'
        ? {
            terms: {
              field: bucket.field,
              size: Number(settings['size'] ?? 10),
              min_doc_count: Number(settings['min_doc_count'] ?? 1),
              order: { _key: settings['order'] === 'asc' ? 'asc' : 'desc' },
            },
          }
        : {
            date_histogram: {
              field: bucket.field,
              // Grafana turns interval "auto" into one from the time range: a minute here.
              fixed_interval: '1m',
              min_doc_count: Number(settings['min_doc_count'] ?? 0),
              extended_bounds: { min: from, max: to },
              format: 'epoch_millis',
            },
          };
    aggs = { [bucket.type === 'terms' ? 't' : 'h']: { ...container, aggs } };
  }
  return {
    index,
    size: 0,
    query: {
      bool: {
        filter: [
          { range: { [target.timeField]: { gte: from, lte: to, format: 'epoch_millis' } } },
          { query_string: { analyze_wildcard: true, query: substitute(target.query) } },
        ],
      },
    },
    aggs,
  };
}

/** What the target must answer, computed from the documents: metric value per terms key and minute. */
function expectedBuckets(target: GrafanaTarget, docs: readonly Doc[]): Map<string, number> {
  const clauses = substitute(target.query).split(' AND ');
  const matches = (doc: Doc): boolean =>
    clauses.every((clause) => {
      const [field, raw] = clause.split(/:(.*)/s) as [string, string];
      if (field === '_exists_') return doc[raw] !== undefined && doc[raw] !== null;
      return String(doc[field]) === raw.replace(/^"(.*)"$/, '$1');
    });
  const metric = target.metrics[0] as { field: string };
  const terms = target.bucketAggs.find((b) => b.type === 'terms');
  const histogram = target.bucketAggs.find((b) => b.type === 'date_histogram') as { field: string };
  const groups = new Map<string, number[]>();
  for (const doc of docs.filter(matches)) {
    const value = doc[metric.field];
    if (typeof value !== 'number') continue;
    const minute = Math.floor((doc[histogram.field] as number) / MINUTE) * MINUTE;
    const key = `${terms ? String(doc[terms.field]) : ''}@${minute}`;
    groups.set(key, [...(groups.get(key) ?? []), value]);
  }
  return new Map([...groups].map(([key, values]) => [key, values.reduce((a, b) => a + b, 0) / values.length]));
}

interface Bucket {
  key: number | string;
  key_as_string?: string;
  doc_count: number;
  m?: { value: number | null };
  h?: { buckets: Bucket[] };
}

/** The non-empty buckets of a response, in the form of expectedBuckets. */
function answeredBuckets(aggregations: Record<string, unknown> | undefined): Map<string, number> {
  const result = new Map<string, number>();
  const minutes = (buckets: Bucket[], term: string): void => {
    for (const b of buckets)
      if (b.m?.value !== null && b.m?.value !== undefined) result.set(`${term}@${Number(b.key)}`, b.m.value);
  };
  const t = aggregations?.['t'] as { buckets: Bucket[] } | undefined;
  if (t) for (const term of t.buckets) minutes(term.h?.buckets ?? [], String(term.key));
  else minutes((aggregations?.['h'] as { buckets: Bucket[] }).buckets, '');
  return result;
}

// ------------------------------------------------------------------------------------------------

describe('ElasticsearchPredictionStore on a real Elasticsearch', () => {
  let client: Client;
  let store: ElasticsearchPredictionStore;

  before(async () => {
    if (!url) throw new Error('needs Elasticsearch: run through `npm test` or `scripts/with-services`');
    client = new Client({ node: url });
    store = new ElasticsearchPredictionStore({
      client,
      logger,
      prefix: PREFIX,
      chunkSize: 7,
      backoff: { initialDelayMs: 50, maxDelayMs: 200, multiplier: 2, jitter: 0 },
    });
  });

  after(async () => {
    if (url) await deleteIndices(url, PREFIX);
    await client?.close();
  });

  it('talks to a server of the client’s major version', async () => {
    const serverVersions = (await client.cluster.stats()).nodes.versions;
    const clientVersion = (
      JSON.parse(
        readFileSync(join(import.meta.dirname, '../../node_modules/@elastic/elasticsearch/package.json'), 'utf8'),
      ) as {
        version: string;
      }
    ).version;
    assert.ok(serverVersions.length > 0);
    for (const v of serverVersions)
      assert.equal(v.split('.')[0], clientVersion.split('.')[0], `server ${v}, client ${clientVersion}`);
  });

  it('puts both index templates (again on every start, unchanged) with strict mappings and replicas that fit the cluster', async () => {
    await store.ensureSchema();
    await store.ensureSchema();
    const { index_templates } = await client.indices.getIndexTemplate({ name: `${PREFIX}-*` });
    const byName = new Map(index_templates.map((t) => [t.name, t.index_template]));
    assert.deepEqual([...byName.keys()].sort(), [`${PREFIX}-model-performance`, `${PREFIX}-predictions`]);
    for (const [name, properties] of [
      [`${PREFIX}-predictions`, PREDICTION_PROPERTIES],
      [`${PREFIX}-model-performance`, PERFORMANCE_PROPERTIES],
    ] as const) {
      const template = byName.get(name)?.template;
      assert.equal(template?.mappings?.dynamic, 'strict', name);
      assert.deepEqual(Object.keys(template?.mappings?.properties ?? {}).sort(), Object.keys(properties).sort(), name);
      assert.equal(String(template?.settings?.index?.auto_expand_replicas), '0-1', name);
    }
  });

  it('writes predictions with bulk creates into the index of their madeAt month (UTC), in chunks', async () => {
    const before = await metricValue('tickcast_predictions_store_bulk_items_total', {
      ...ES,
      op: 'create',
      outcome: 'ok',
    });
    await store.writePredictions(PREDICTIONS);
    assert.equal(
      await metricValue('tickcast_predictions_store_bulk_items_total', { ...ES, op: 'create', outcome: 'ok' }),
      before + PREDICTIONS.length,
    );
    await client.indices.refresh({ index: `${PREFIX}-predictions-*` });
    const cat = await client.cat.indices({
      index: `${PREFIX}-predictions-*`,
      format: 'json',
      h: ['index', 'docs.count'],
    });
    const counts = Object.fromEntries(cat.map((row) => [row.index, Number(row['docs.count'])]));
    const april = PREDICTIONS.filter((p) => p.madeAt < MAY_START).length;
    assert.deepEqual(counts, {
      [`${PREFIX}-predictions-2023.04`]: april,
      [`${PREFIX}-predictions-2023.05`]: PREDICTIONS.length - april,
    });
    const stored = await client.get<Prediction>({ index: `${PREFIX}-predictions-2023.04`, id: PREDICTIONS[0]!.id });
    assert.deepEqual(stored._source, PREDICTIONS[0]);
  });

  it('the cluster is green with these indices on one node', async () => {
    const health = await client.cluster.health({ index: `${PREFIX}-*`, wait_for_status: 'green', timeout: '20s' });
    assert.equal(health.status, 'green', JSON.stringify(health));
    assert.equal(health.unassigned_shards, 0);
  });

  it('a re-delivered prediction is a duplicate and does not replace the stored document', async () => {
    const first = PREDICTIONS[0]!;
    const before = await metricValue('tickcast_predictions_store_bulk_items_total', {
      ...ES,
      op: 'create',
      outcome: 'duplicate',
    });
    await store.writePredictions([{ ...first, predictedPrice: 1, modelVersion: 'other' }]);
    assert.equal(
      await metricValue('tickcast_predictions_store_bulk_items_total', { ...ES, op: 'create', outcome: 'duplicate' }),
      before + 1,
    );
    const stored = await client.get<Prediction>({ index: `${PREFIX}-predictions-2023.04`, id: first.id });
    assert.deepEqual(stored._source, first);
  });

  it('pendingDue finds due predictions without an actual, oldest target first, ties by id', async () => {
    const due = await store.pendingDue(NOW, 10_000);
    const expected = PREDICTIONS.filter((p) => p.targetTime <= NOW).sort(
      (a, b) => a.targetTime - b.targetTime || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    assert.ok(expected.length > OUTCOMES.length, 'some due predictions stay without an outcome');
    assert.deepEqual(due, expected);
    assert.deepEqual(await store.pendingDue(NOW, 2), expected.slice(0, 2), 'the limit is the size');
  });

  it('pendingDue skips (and counts) a stored document that no longer passes the prediction schema', async () => {
    const bad = { ...prediction('BTC/USD', 1, APRIL_END - 30 * MINUTE, '3', 7), basePrice: -1 };
    await client.index({ index: `${PREFIX}-predictions-2023.04`, id: bad.id, document: bad, refresh: 'wait_for' });
    const before = await metricValue('tickcast_predictions_store_invalid_rows_total', ES);
    const due = await store.pendingDue(NOW, 10_000);
    assert.ok(!due.some((p) => p.id === bad.id));
    assert.equal(due.length, PREDICTIONS.filter((p) => p.targetTime <= NOW).length);
    assert.equal(await metricValue('tickcast_predictions_store_invalid_rows_total', ES), before + 1);
    await client.delete({ index: `${PREFIX}-predictions-2023.04`, id: bad.id, refresh: 'wait_for' });
  });

  it('records outcomes (doc merges) and pendingDue no longer sees them as soon as recordOutcomes returns', async () => {
    assert.ok(OUTCOMES.length >= 3);
    // An earlier outcome for the same id in the batch is overridden by the later one.
    await store.recordOutcomes([{ ...OUTCOMES[0]!, actualPrice: 1, error: 1 }, ...OUTCOMES]);
    const due = await store.pendingDue(NOW, 10_000);
    const recorded = new Set(OUTCOMES.map((o) => o.id));
    assert.deepEqual(
      due.map((p) => p.id),
      PREDICTIONS.filter((p) => p.targetTime <= NOW && !recorded.has(p.id))
        .sort((a, b) => a.targetTime - b.targetTime || (a.id < b.id ? -1 : 1))
        .map((p) => p.id),
    );
    const { docs } = await client.mget<Doc>({
      docs: OUTCOMES.map((o) => ({ _index: `${PREFIX}-predictions-2023.04`, _id: o.id })),
    });
    for (const [i, doc] of docs.entries()) {
      const source = '_source' in doc ? doc._source : undefined;
      assert.equal(source?.['actualPrice'], OUTCOMES[i]!.actualPrice);
      assert.equal(source?.['error'], OUTCOMES[i]!.error);
      assert.equal(source?.['predictedPrice'], PREDICTIONS.find((p) => p.id === OUTCOMES[i]!.id)?.predictedPrice);
    }
  });

  it('an outcome whose prediction is not stored is named (404 document missing), the others recorded', async () => {
    const missing = predictionId('BTC/USD', 5, APRIL_END - 60 * MINUTE);
    const error = await rejection(
      store.recordOutcomes([
        { id: missing, actualPrice: 29_000, error: 0 },
        { id: OUTCOMES[1]!.id, actualPrice: OUTCOMES[1]!.actualPrice, error: OUTCOMES[1]!.error },
      ]),
    );
    assert.ok(error instanceof PredictionsNotStored, String(error));
    assert.deepEqual(error.ids, [missing]);
  });

  it('an item the index refuses (a mapping that does not fit) is UPSTREAM_REJECTED naming it; the rest is written', async () => {
    // An index of a later month made by someone else, where pair is a number.
    const june = Date.UTC(2023, 5, 1);
    await client.indices.create({
      index: `${PREFIX}-predictions-2023.06`,
      mappings: { properties: { pair: { type: 'long' } } },
    });
    const refused = prediction('BTC/USD', 5, june, '4', 1);
    const fine = prediction('BTC/USD', 5, MAY_START + 30 * MINUTE, '4', 2);
    const error = await rejection(store.writePredictions([refused, fine]));
    assert.equal(error.code, 'UPSTREAM_REJECTED');
    assert.equal(error.retriable, false);
    assert.ok(error.message.includes(refused.id) && !error.message.includes(fine.id), error.message);
    assert.match(error.message, /400 document_parsing_exception/);
    const stored = await client.get<Prediction>({ index: `${PREFIX}-predictions-2023.05`, id: fine.id });
    assert.deepEqual(stored._source, fine);
    await client.indices.delete({ index: `${PREFIX}-predictions-2023.06` });
    await client.delete({ index: `${PREFIX}-predictions-2023.05`, id: fine.id, refresh: 'wait_for' });
  });

  it('upserts performance rows by their key: the last row per key wins', async () => {
    const stale = PERFORMANCE.map((row) => ({ ...row, count: 1, mae: 999, updatedAt: row.updatedAt - MINUTE }));
    await store.writePerformance(stale);
    await store.writePerformance(PERFORMANCE);
    await client.indices.refresh({ index: store.performanceIndex });
    const { hits } = await client.search<ModelPerformanceRow>({
      index: store.performanceIndex,
      size: 100,
      sort: [{ modelVersion: 'asc' }, { horizonMinutes: 'asc' }],
    });
    assert.deepEqual(
      hits.hits.map((h) => h._source),
      PERFORMANCE,
    );
  });

  it('answers every Elasticsearch query of the Grafana dashboards with what the documents say', async () => {
    await client.indices.refresh({ index: `${PREFIX}-*` });
    const targets = dashboardTargets();
    assert.ok(targets.length >= 5, `found ${targets.length} Elasticsearch queries in grafana/dashboards`);
    const sources: Record<string, { index: string; docs: Doc[] }> = {
      'es-predictions': { index: `${PREFIX}-predictions-*`, docs: expectedPredictionDocs() },
      'es-model-performance': { index: store.performanceIndex, docs: PERFORMANCE.map((row) => ({ ...row })) },
    };
    for (const { where, target } of targets) {
      const source = sources[target.datasource.uid];
      assert.ok(source, `${where}: datasource ${target.datasource.uid}`);
      const from = APRIL_END - 60 * MINUTE;
      const to = MAY_START + 60 * MINUTE;
      const response = await client.search(grafanaSearch(target, source.index, from, to));
      assert.equal(response._shards.failed, 0, where);
      const expected = expectedBuckets(target, source.docs);
      assert.ok(expected.size > 0, `${where}: the documents give it something to show`);
      const answered = answeredBuckets(response.aggregations as Record<string, unknown> | undefined);
      assert.deepEqual([...answered.keys()].sort(), [...expected.keys()].sort(), where);
      for (const [key, value] of expected)
        assert.ok(Math.abs((answered.get(key) ?? NaN) - value) < 1e-6, `${where} ${key}`);
    }
  });
});
