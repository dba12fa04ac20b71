/**
 * Elasticsearch stopped and restarted (`scripts/services down|up elasticsearch`) while
 * predictions flow to the two predictions writers, each its own `tickcast stream
 * predictions-writer` process as in k8s/: one for PostgreSQL (what the API reads), one for
 * Elasticsearch alone. The predictions are made from a real day of BTC/USD closes (one per
 * minute and horizon, persistence forecasts), published straight to the predictions topic.
 *
 * While the cluster is down the Elasticsearch writer answers /ready 503 naming it, its
 * gauge is 0, it logs the outage once, holds its batch (nothing committed past what it has
 * not written) and does not exit within ELASTICSEARCH_MAX_OUTAGE_MS; the PostgreSQL writer
 * stores every prediction meanwhile. Afterwards the Elasticsearch document ids equal those
 * of an uninterrupted run. Then: a prediction Elasticsearch refuses for itself (its
 * template maps horizonMinutes as an integer) is dead-lettered with the server's reason
 * and the writer goes on, rather than being redelivered forever.
 *
 * This test stops the Elasticsearch every other e2e test uses: run it alone, or against an
 * instance of its own (TICKCAST_*_PORT, TICKCAST_SERVICES_DIR).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client as ElasticsearchClient } from '@elastic/elasticsearch';
import { deadLetterSchema, predictionId, type Prediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { createBus } from '../../streams/runtime.ts';
import { openElasticsearchStore } from '../../streams/predictions-store/elasticsearch.ts';
import { startPredictionsWriter } from '../../streams/predictions-store/writer.ts';
import { BTC_CANDLES, FULL_DAY } from '../support/data.ts';
import { loadDay } from '../support/market-data.ts';
import { hasExited, ready, startSupervised, tolerant, type Supervised } from '../support/outage.ts';
import { services } from '../support/service-control.ts';
import { scrape } from '../support/ports.ts';
import { stopGracefully } from '../support/processes.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const PAIR = 'BTC/USD';
const HORIZONS = [1, 5, 15];
/** Short check interval so the test is quick; the defaults are in lib/config.ts. */
const OUTAGE_ENV = { DEPENDENCY_CHECK_INTERVAL_MS: '1000', ELASTICSEARCH_MAX_OUTAGE_MS: '180000', LOG_LEVEL: 'info' };
const OUTAGE_MS = 20_000;

/** Persistence forecasts from the real closes: one prediction per minute and horizon. */
async function dayPredictions(): Promise<Prediction[]> {
  const minutes = await loadDay(BTC_CANDLES, FULL_DAY);
  return minutes.flatMap((m) =>
    HORIZONS.map((h) => {
      const madeAt = m.time + 60_000;
      return {
        v: 1 as const,
        id: predictionId(PAIR, h, madeAt),
        pair: PAIR,
        horizonMinutes: h,
        madeAt,
        targetTime: madeAt + h * 60_000,
        basePrice: m.close,
        predictedLogReturn: 0,
        predictedPrice: m.close,
        lowerBound: null,
        upperBound: null,
        modelName: `tickcast-btc-usd-${h}m`,
        modelVersion: '1',
      };
    }),
  );
}

const publish = (bus: Bus, predictions: readonly Prediction[]): Promise<void> =>
  bus.publish(predictions.map((value) => ({ topic: TOPICS.predictions.name, key: value.pair, value })));

async function esIds(es: ElasticsearchClient, prefix: string): Promise<string[]> {
  await es.indices.refresh({ index: `${prefix}-predictions-*`, ignore_unavailable: true, allow_no_indices: true });
  const ids: string[] = [];
  let after: (string | number)[] | undefined;
  for (;;) {
    const { hits } = await es.search<unknown>({
      index: `${prefix}-predictions-*`,
      ignore_unavailable: true,
      allow_no_indices: true,
      size: 5_000,
      _source: false,
      sort: [{ id: 'asc' }],
      ...(after ? { search_after: after } : {}),
    });
    if (hits.hits.length === 0) return ids;
    ids.push(...hits.hits.map((h) => h._id ?? ''));
    after = hits.hits.at(-1)?.sort as (string | number)[];
  }
}

/** Documents stored; 0 while the cluster cannot answer yet (a shard of a new or recovering index). */
async function esCount(es: ElasticsearchClient, prefix: string): Promise<number> {
  try {
    await es.indices.refresh({ index: `${prefix}-predictions-*`, ignore_unavailable: true, allow_no_indices: true });
    return (await es.count({ index: `${prefix}-predictions-*`, ignore_unavailable: true, allow_no_indices: true }))
      .count;
  } catch {
    return 0;
  }
}

const pgIds = async (iso: Isolation): Promise<string[]> =>
  (await iso.pool.query<{ id: string }>('SELECT id FROM predictions ORDER BY id')).rows.map((r) => r.id);

const sorted = (ids: readonly string[]): string[] => [...ids].sort();

describe('Elasticsearch stopped and restarted while predictions flow', () => {
  let predictions: Prediction[];
  let es: ElasticsearchClient;
  let referenceIds: string[] = [];
  let iso: Isolation;
  let bus: Bus;
  const writers = new Map<'postgres' | 'elasticsearch', Supervised>();
  let storedAtStop = 0;
  let during: { status: number; body: string } | undefined;
  let gaugeDuring = -1;
  let pgDuring: string[] = [];
  let esReadyAgain = false;

  before(async () => {
    const url = process.env['ELASTICSEARCH_URL'];
    if (!url) throw new Error('needs Elasticsearch: run `scripts/services up` and `eval "$(scripts/services env)"`');
    es = new ElasticsearchClient({ node: url });
    predictions = await dayPredictions();

    // The uninterrupted run: the same writer, in this process, on the in-process bus.
    const reference = await isolate('esoutref');
    const memory = new MemoryBus();
    await memory.ensureTopics(Object.values(TOPICS));
    const store = openElasticsearchStore({ node: url }, { logger: testLogger, prefix: reference.id });
    const writer = await startPredictionsWriter(memory, store, testLogger, { groupId: 'reference' });
    await publish(memory, predictions);
    await waitFor(
      'the uninterrupted run',
      async () => (await esCount(es, reference.id)) >= predictions.length,
      120_000,
    );
    referenceIds = await esIds(es, reference.id);
    await writer.stop();
    await store.close();
    await memory.close();
    await reference.close();

    iso = await isolate('esout', OUTAGE_ENV);
    tolerant(iso.pool);
    bus = await createBus(iso.config, testLogger);
    // As in k8s/: a writer per store, each in a process of its own.
    writers.set('postgres', await startSupervised(iso, 'predictions-writer', { ...OUTAGE_ENV, ELASTICSEARCH_URL: '' }));
    writers.set('elasticsearch', await startSupervised(iso, 'predictions-writer', { ...OUTAGE_ENV, DATABASE_URL: '' }));
    const half = Math.ceil(predictions.length / 2);
    await publish(bus, predictions.slice(0, half));
    await waitFor('progress before the outage', async () => (await esCount(es, iso.id)) > 0, 120_000, 50);

    const esWriter = writers.get('elasticsearch') as Supervised;
    // Ready before: a check that never passes would make the 503 below meaningless.
    await waitFor('the Elasticsearch writer ready', async () => (await ready(esWriter.port))?.status === 200, 30_000);
    storedAtStop = await esCount(es, iso.id);
    await services('down', 'elasticsearch');
    const downAt = Date.now();
    // Published during the outage: the Elasticsearch writer must hold them, not lose them.
    await publish(bus, predictions.slice(half));
    await waitFor(
      "the Elasticsearch writer's /ready to name elasticsearch",
      async () => {
        const answer = await ready(esWriter.port);
        if (answer?.status !== 503 || !answer.body.includes('elasticsearch')) return false;
        during = answer;
        gaugeDuring = await scrape(esWriter.port, 'tickcast_dependency_up{dependency="elasticsearch"}');
        return true;
      },
      20_000,
      200,
    );
    await waitFor(
      'the PostgreSQL writer to store every prediction during the outage',
      async () => (await pgIds(iso)).length >= predictions.length,
      60_000,
    );
    pgDuring = await pgIds(iso);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
    await services('up', 'elasticsearch');
    await waitFor(
      'the Elasticsearch writer to catch up',
      async () => (await esCount(es, iso.id)) >= predictions.length,
      120_000,
    );
    await waitFor(
      'the Elasticsearch writer ready again',
      async () => (await ready(esWriter.port))?.status === 200,
      30_000,
    );
    esReadyAgain = true;
    // Let any duplicate or late write arrive before comparing.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  });

  after(async () => {
    await services('up', 'elasticsearch');
    for (const s of writers.values()) await stopGracefully(s.service);
    await bus?.close();
    await iso?.close();
    await es?.close();
  });

  it('stopped the cluster after some predictions were written, the second half still to come', () => {
    assert.ok(storedAtStop > 0 && storedAtStop < predictions.length, `documents at the stop: ${storedAtStop}`);
  });

  it('/ready answered 503 naming elasticsearch, and tickcast_dependency_up{dependency="elasticsearch"} was 0', () => {
    assert.equal(during?.status, 503);
    const body = JSON.parse(during?.body ?? '{}') as { status: string; down: { dependency: string }[] };
    assert.equal(body.status, 'not ready');
    assert.deepEqual(
      body.down.map((d) => d.dependency),
      ['elasticsearch'],
    );
    assert.equal(gaugeDuring, 0);
  });

  it('the Elasticsearch writer rode the outage out within its bound: no exit, ready again, the outage logged once', () => {
    const s = writers.get('elasticsearch') as Supervised;
    assert.equal(hasExited(s), false, s.service.output().slice(-4000));
    assert.ok(esReadyAgain);
    const output = s.service.output();
    assert.equal((output.match(/dependency down: elasticsearch/g) ?? []).length, 1, output.slice(-4000));
    assert.equal((output.match(/dependency up again: elasticsearch/g) ?? []).length, 1, output.slice(-4000));
  });

  it('PostgreSQL stored every prediction during the outage (its writer is not held back)', () => {
    assert.deepEqual(pgDuring, sorted(predictions.map((p) => p.id)));
    assert.equal(hasExited(writers.get('postgres') as Supervised), false);
  });

  it('stores the same Elasticsearch document ids as the uninterrupted run, each once', async () => {
    const ids = await esIds(es, iso.id);
    assert.equal(ids.length, new Set(ids).size);
    assert.deepEqual(sorted(ids), sorted(referenceIds));
    assert.equal(ids.length, predictions.length);
  });

  it('dead-letters a prediction Elasticsearch refuses for itself, with its reason, and writes the next ones', async () => {
    const last = predictions.at(-1) as Prediction;
    // Valid to the event schema, but the template maps horizonMinutes as an integer: a real mapping refusal.
    const refused: Prediction = {
      ...last,
      horizonMinutes: 3_000_000_000,
      id: predictionId(PAIR, 3_000_000_000, last.madeAt),
    };
    const next: Prediction = { ...last, horizonMinutes: 30, id: predictionId(PAIR, 30, last.madeAt) };
    const letters: unknown[] = [];
    const reader: RunningTask = await bus.consume({
      groupId: 'test-dead-letters',
      topics: [TOPICS.deadLetters.name],
      fromBeginning: true,
      handler: async (records) => {
        for (const r of records) letters.push(deadLetterSchema.parse(JSON.parse(r.value?.toString() ?? 'null')));
      },
    });
    try {
      await publish(bus, [refused, next]);
      await waitFor('the next prediction written', async () => (await esIds(es, iso.id)).includes(next.id), 30_000);
      await waitFor(
        'the refused one dead-lettered by the Elasticsearch writer',
        async () => letters.some((l) => (l as { processor: string }).processor === 'predictions-writer-elasticsearch'),
        30_000,
      );
      const letter = letters.find(
        (l) => (l as { processor: string }).processor === 'predictions-writer-elasticsearch',
      ) as { code: string; message: string; value: string };
      assert.equal(letter.code, 'UPSTREAM_REJECTED');
      assert.match(letter.message, /document_parsing_exception/);
      assert.equal((JSON.parse(letter.value) as Prediction).id, refused.id);
      assert.equal((await esIds(es, iso.id)).includes(refused.id), false);
    } finally {
      await reader.stop();
    }
  });
});
