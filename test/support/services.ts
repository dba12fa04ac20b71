/**
 * Connections to the real services the e2e suite needs (started by `scripts/services up`),
 * and per-test isolation on them: a fresh topic prefix and consumer-group prefix on
 * Kafka, a fresh schema in PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { Client as ElasticsearchClient } from '@elastic/elasticsearch';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { migrate } from '../../streams/store/migrate.ts';

export const testLogger = createLogger(process.env['LOG_LEVEL'] ?? 'warn');

export function requireServices(): { brokers: string[]; databaseUrl: string } {
  const brokers = process.env['KAFKA_BROKERS'];
  const databaseUrl = process.env['DATABASE_URL'];
  if (!brokers || !databaseUrl) {
    throw new Error(
      'e2e tests need the real services: run `scripts/services up` and `eval "$(scripts/services env)"` first ' +
        '(or run `npm test`, which starts them through scripts/with-services)',
    );
  }
  return { brokers: brokers.split(','), databaseUrl };
}

export interface Isolation {
  /** Unique per test: prefixes topics and groups, names the schema. */
  readonly id: string;
  readonly env: Record<string, string>;
  readonly config: Config;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/** A fresh namespace on the real services; `extraEnv` overrides config for the test. */
export async function isolate(label: string, extraEnv: Record<string, string> = {}): Promise<Isolation> {
  const { brokers, databaseUrl } = requireServices();
  const id =
    `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}_${label.replace(/[^a-z0-9]/gi, '')}`.toLowerCase();
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  await admin.query(`CREATE SCHEMA ${id}`);
  await admin.end();
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${id}`);
  const env: Record<string, string> = {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_PREFIX: `${id}.`,
    TICKCAST_GROUP_PREFIX: `${id}.`,
    DATABASE_URL: url.toString(),
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
    METRICS_PORT: '0',
    // Processes spawned by a test inherit ELASTICSEARCH_URL from `scripts/services env`:
    // the in-process config gets it too, and every index name starts with the test's id.
    ...(process.env['ELASTICSEARCH_URL'] ? { ELASTICSEARCH_URL: process.env['ELASTICSEARCH_URL'] } : {}),
    ELASTICSEARCH_INDEX_PREFIX: id,
    ...extraEnv,
  };
  const config = loadConfig(env);
  const pool = new pg.Pool({ connectionString: env['DATABASE_URL'], max: 4 });
  await migrate(pool, testLogger);
  return {
    id,
    env,
    config,
    pool,
    close: async () => {
      await pool.end();
      const cleanup = new pg.Pool({ connectionString: databaseUrl, max: 1 });
      await cleanup.query(`DROP SCHEMA IF EXISTS ${id} CASCADE`);
      await cleanup.end();
      await deleteTopics(brokers, `${id}.`);
      if (env['ELASTICSEARCH_URL']) await deleteIndices(env['ELASTICSEARCH_URL'], id);
    },
  };
}

/** Deletes the indices and index templates whose names start with `${prefix}-` (a test's namespace). */
export async function deleteIndices(url: string, prefix: string): Promise<void> {
  const client = new ElasticsearchClient({ node: url });
  try {
    // Elasticsearch refuses wildcard deletes (action.destructive_requires_name): name them.
    const { indices } = await client.indices.resolveIndex({ name: `${prefix}-*`, expand_wildcards: 'all' });
    const names = indices.map((i) => i.name);
    if (names.length > 0) await client.indices.delete({ index: names });
    const { index_templates } = await client.indices.getIndexTemplate({ name: `${prefix}-*` }, { ignore: [404] });
    for (const template of index_templates ?? []) await client.indices.deleteIndexTemplate({ name: template.name });
  } finally {
    await client.close();
  }
}

/** Deletes every topic whose name starts with `prefix` (one test's or benchmark's namespace). */
export async function deleteTopics(brokers: string[], prefix: string): Promise<void> {
  const admin = new Kafka({ brokers, clientId: 'tickcast-test-cleanup', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

/** Polls `probe` until it returns true or the timeout passes; the message says what was awaited. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
