/**
 * Dashboards and alert rules cannot drift from the code: every metric, label, table,
 * column, index and field their queries name must be produced by the code (the metrics
 * registry, the DDL in schema/sql, the Elasticsearch store's templates) or by the one
 * declared exporter (Strimzi's Kafka Exporter).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { alertQueries, dashboardQueries, queryProblems, type Datasource, type Produced, type Query } from './drift.ts';
import {
  declaredMetrics,
  ddlRelations,
  elasticsearchIndices,
  KAFKA_EXPORTER_METRICS,
  TARGET_LABELS,
} from './produced.ts';
import { promqlReferences } from './promql.ts';
import { sqlReferences } from './sql.ts';

const here = (path: string): URL => new URL(path, import.meta.url);

/** Which DDL each SQL datasource's database is built from. */
const SQL_DATASOURCE_DDL: Record<string, string> = {
  risingwave: 'schema/sql/risingwave',
  postgres: 'schema/sql/postgres',
};

let produced: Produced;
let datasources: Datasource[];
const dashboards = new Map<string, unknown>();
let alerts: Query[];

before(async () => {
  const metrics = new Map([...(await declaredMetrics()), ...KAFKA_EXPORTER_METRICS]);
  const relations = new Map();
  for (const [uid, dir] of Object.entries(SQL_DATASOURCE_DDL)) relations.set(uid, await ddlRelations(dir));
  produced = { metrics, targetLabels: TARGET_LABELS, relations, indices: elasticsearchIndices() };
  datasources = (
    parse(await readFile(here('provisioning/datasources/datasources.yaml'), 'utf8')) as {
      datasources: Datasource[];
    }
  ).datasources;
  for (const file of (await readdir(here('dashboards/'))).filter((f) => f.endsWith('.json')).sort())
    dashboards.set(file, JSON.parse(await readFile(here(`dashboards/${file}`), 'utf8')));
  alerts = alertQueries('alerts.yaml', parse(await readFile(here('provisioning/alerting/alerts.yaml'), 'utf8')));
});

const allDashboardQueries = (): Query[] =>
  [...dashboards].flatMap(([file, dashboard]) =>
    dashboardQueries(file, dashboard as Parameters<typeof dashboardQueries>[1]),
  );

describe('grafana/', () => {
  it('provisions only datasources whose data the check knows', () => {
    for (const datasource of datasources)
      assert.ok(
        datasource.type === 'prometheus' ||
          datasource.type === 'elasticsearch' ||
          SQL_DATASOURCE_DDL[datasource.uid] !== undefined,
        `datasource ${datasource.uid} (${datasource.type}): add its DDL to SQL_DATASOURCE_DDL`,
      );
  });

  it('has dashboards with queries', () => {
    assert.ok(dashboards.size >= 5, `${dashboards.size} dashboards`);
    for (const [file, dashboard] of dashboards)
      assert.ok(dashboardQueries(file, dashboard as Parameters<typeof dashboardQueries>[1]).length > 0, file);
  });

  it('dashboards query only metrics, tables, columns, indices and fields the code produces', () => {
    assert.deepEqual(queryProblems(allDashboardQueries(), datasources, produced), []);
  });

  it('alert rules for model error drift, consumer lag, a stalled trade feed and the sentiment LLM query what the code produces', () => {
    assert.deepEqual(
      alerts.map((q) => q.where.split('"')[1]),
      [
        'Model error drift',
        'Consumer lag',
        'Trade feed stalled',
        'Sentiment LLM circuit open',
        'Sentiment LLM failure ratio',
      ],
    );
    assert.deepEqual(queryProblems(alerts, datasources, produced), []);
  });

  it('ships every dashboard in the Grafana ConfigMap of k8s/base', async () => {
    const kustomization = parse(await readFile(here('../k8s/base/kustomization.yaml'), 'utf8')) as {
      configMapGenerator: { name: string; files: string[] }[];
    };
    const shipped = kustomization.configMapGenerator
      .find((g) => g.name === 'grafana-dashboards')
      ?.files.map((f) => f.split('/').pop());
    assert.deepEqual(shipped?.sort(), [...dashboards.keys()]);
  });
});

describe('the drift check', () => {
  const query = (datasourceUid: string, fields: Partial<Query>): Query => ({ where: 'q', datasourceUid, ...fields });
  const problems = (q: Query): string[] => queryProblems([q], datasources, produced);

  it('accepts a declared metric, its labels and histogram series', () => {
    assert.deepEqual(
      problems(
        query('prometheus', {
          expr: 'histogram_quantile(0.99, sum by (le, processor) (rate(tickcast_processor_batch_seconds_bucket{processor="candles"}[5m])))',
        }),
      ),
      [],
    );
  });

  it('rejects an undeclared metric, an unknown label, a histogram suffix on a counter and a made-up function', () => {
    assert.deepEqual(problems(query('prometheus', { expr: 'sum(rate(tickcast_made_up_total[5m]))' })), [
      'q: metric tickcast_made_up_total is not produced by the code or a declared exporter',
    ]);
    assert.deepEqual(problems(query('prometheus', { expr: 'sum by (colour) (tickcast_candles_trades_total)' })), [
      'q: label colour is on none of its metrics',
    ]);
    assert.deepEqual(problems(query('prometheus', { expr: 'tickcast_candles_trades_total_bucket' })), [
      'q: metric tickcast_candles_trades_total_bucket is not produced by the code or a declared exporter',
    ]);
    assert.deepEqual(problems(query('prometheus', { expr: 'smooth(tickcast_gateway_ready)' })), [
      'q: smooth() is not a PromQL function',
    ]);
    assert.deepEqual(problems(query('prometheus', { expr: 'up' })), [
      'q: metric up is not produced by the code or a declared exporter',
    ]);
  });

  it('rejects an unknown relation, an unknown column and a column of another relation', () => {
    assert.deepEqual(problems(query('risingwave', { rawSql: 'SELECT close FROM prices' })), [
      'q: relation prices is not in the DDL',
      'q: column close is in none of prices',
    ]);
    assert.deepEqual(problems(query('risingwave', { rawSql: 'SELECT open_time AS time, rsi_15 FROM indicators' })), [
      'q: column rsi_15 is in none of indicators',
    ]);
    // "openTime" is a column of RisingWave's candles; PostgreSQL's candles has open_time.
    assert.deepEqual(problems(query('postgres', { rawSql: 'SELECT "openTime" FROM candles' })), [
      'q: column openTime is in none of candles',
    ]);
  });

  it('rejects an index the store does not write and an unmapped field', () => {
    const elsewhere: Datasource = { uid: 'es-other', type: 'elasticsearch', jsonData: { index: 'logs-*' } };
    assert.deepEqual(queryProblems([query('es-other', {})], [...datasources, elsewhere], produced), [
      'q: index logs-* is not one the Elasticsearch store writes',
    ]);
    assert.deepEqual(
      problems(
        query('es-predictions', {
          query: 'pair:"BTC/USD" AND _exists_:confidence',
          metrics: [{ field: 'predictedPrice' }, { field: 'price' }],
          bucketAggs: [{ field: 'targetTime' }],
        }),
      ),
      [
        'q: field price is not mapped in tickcast-predictions-*',
        'q: field confidence is not mapped in tickcast-predictions-*',
      ],
    );
  });

  it('rejects a query on a datasource that is not provisioned', () => {
    assert.deepEqual(problems(query('influx', { expr: 'x' })), ['q: datasource influx is not provisioned']);
  });
});

describe('promqlReferences', () => {
  it('separates metrics, labels and functions', () => {
    assert.deepEqual(
      promqlReferences(
        'sum by (consumergroup) (kafka_consumergroup_lag{topic=~"tickcast\\\\..*"}) / on (consumergroup) group_left max(x_total offset 5m) > 1e3',
      ),
      {
        metrics: ['kafka_consumergroup_lag', 'x_total'],
        labels: ['consumergroup', 'consumergroup', 'topic'],
        unknownFunctions: [],
      },
    );
  });
});

describe('sqlReferences', () => {
  it('resolves aliases and ignores literals, casts, output names and macros', () => {
    const refs = sqlReferences(
      "SELECT $__timeGroupAlias(s.created_at, '1h'), a.title, count(*) AS n, close::DOUBLE PRECISION AS c\nFROM sentiment_signals s\nJOIN news_articles a ON a.id = s.article_id\nWHERE s.coin = '$coin' AND $__timeFilter(s.created_at)",
    );
    assert.deepEqual(refs.relations, ['sentiment_signals', 'news_articles']);
    assert.deepEqual(
      refs.columns.map((c) => `${c.qualifier ?? ''}.${c.name}`),
      ['s.created_at', 'a.title', '.close', 'a.id', 's.article_id', 's.coin', 's.created_at'],
    );
    assert.equal(refs.aliases.get('a'), 'news_articles');
  });
});
