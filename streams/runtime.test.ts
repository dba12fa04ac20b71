/** Which predictions stores the predictions writer writes, for each configuration. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import { ElasticsearchPredictionStore } from './predictions-store/elasticsearch.ts';
import { PostgresPredictionStore } from './predictions-store/postgres.ts';
import { predictionStoresOf } from './runtime.ts';
import type { Database } from './store/database.ts';

const logger = createLogger('silent');
const database: Database = {
  pool: {} as pg.Pool,
  kind: 'postgres',
  url: 'postgres://127.0.0.1/tickcast',
  close: async () => {},
};
const withEs = loadConfig({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200', ELASTICSEARCH_INDEX_PREFIX: 'x1' });

describe('predictionStoresOf', () => {
  it('writes the feature store (what the API reads) and Elasticsearch when both are there, in groups of their own', async () => {
    const stores = predictionStoresOf(withEs, database, logger);
    assert.deepEqual(
      stores.map((s) => s.groupId),
      ['predictions-writer', 'predictions-writer-elasticsearch'],
    );
    assert.ok(stores[0]?.store instanceof PostgresPredictionStore);
    assert.ok(stores[1]?.store instanceof ElasticsearchPredictionStore);
    for (const { store } of stores) await store.close();
  });

  it('writes the feature store alone without ELASTICSEARCH_URL, and Elasticsearch alone without a feature store', async () => {
    const postgres = predictionStoresOf(loadConfig({}), database, logger);
    assert.deepEqual(
      postgres.map((s) => [s.groupId, s.store instanceof PostgresPredictionStore]),
      [['predictions-writer', true]],
    );
    const elasticsearch = predictionStoresOf(withEs, undefined, logger);
    assert.deepEqual(
      elasticsearch.map((s) => [s.groupId, s.store instanceof ElasticsearchPredictionStore]),
      [['predictions-writer-elasticsearch', true]],
    );
    await elasticsearch[0]?.store.close();
    assert.throws(() => predictionStoresOf(loadConfig({}), undefined, logger), /needs the feature store/);
  });

  it('refuses an index prefix Elasticsearch would not accept, naming the variable', () => {
    assert.throws(
      () => loadConfig({ ELASTICSEARCH_INDEX_PREFIX: 'Tick*cast' }),
      (error: unknown) => error instanceof ConfigError && /ELASTICSEARCH_INDEX_PREFIX/.test(error.message),
    );
  });
});
