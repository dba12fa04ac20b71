/**
 * The Elasticsearch store against @elastic/elasticsearch-mock, for what a real server does
 * not do on demand: 429 items and 503 requests (retries, backoff, giving up), a request
 * refused as a whole, a server that is not Elasticsearch; and refusals made before any
 * request. Templates, bulk writes, duplicates, outcomes, upserts, pendingDue and the
 * dashboards' aggregations run against a real server in
 * test/e2e/predictions-store-elasticsearch.e2e.ts.
 *
 * Two compatibility notes on mock 2.1.0 with client 9 under ESM:
 * - The mock `require`s the CommonJS build of the client and recognises an error answer by
 *   `instanceof` its ResponseError; the ESM build's ResponseError is a different class and
 *   would be sent back as a 200 body. Error answers are built from the CommonJS build.
 * - Its typings declare `export default`, which NodeNext reads as `module.exports.default`;
 *   at run time the default import is the class itself.
 */
// The month boundaries below are UTC; a zone ahead of UTC puts 2023-04-30T23:55Z in May locally.
process.env['TZ'] = 'Asia/Tokyo';

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { Client, type errors } from '@elastic/elasticsearch';
import MockModule, { type MockPattern } from '@elastic/elasticsearch-mock';
import { predictionId, type Prediction } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { metricValue } from '../../lib/metrics.ts';
import { ElasticsearchPredictionStore, type ClientOptions, type ElasticsearchStoreOptions } from './elasticsearch.ts';
import { PredictionsNotStored, RecordsRefused } from './store.ts';

type ClientConnection = NonNullable<ClientOptions['Connection']>;

const Mock = MockModule as unknown as typeof MockModule.default;
const require = createRequire(import.meta.url);
const cjsErrors = (require('@elastic/elasticsearch') as { errors: typeof errors }).errors;
/** The mock's connection is typed against the CommonJS build, the client's option against the ESM build. */
const connectionOf = (mock: InstanceType<typeof Mock>) => mock.getConnection() as unknown as ClientConnection;

const logger = createLogger('silent');

function responseError(statusCode: number, body: unknown): Error {
  return new cjsErrors.ResponseError({ body, statusCode, headers: {}, warnings: null, meta: {} as never });
}

type Answer = Record<string, unknown> | Error;

interface Harness {
  readonly mock: InstanceType<typeof Mock>;
  readonly store: ElasticsearchPredictionStore;
  /** Every request the mock received, in order. */
  readonly requests: MockPattern[];
  /** Delays the store waited, in order. */
  readonly sleeps: number[];
  /** Answers `method path` with the given answers in turn (the last one repeats). */
  answer(method: string, path: string, ...answers: Answer[]): void;
}

function harness(options: Partial<Omit<ElasticsearchStoreOptions, 'client' | 'logger' | 'sleep'>> = {}): Harness {
  const mock = new Mock();
  const requests: MockPattern[] = [];
  const sleeps: number[] = [];
  const client = new Client({ node: 'http://es.test:9200', Connection: connectionOf(mock) });
  const store = new ElasticsearchPredictionStore({
    client,
    logger,
    backoff: { initialDelayMs: 100, maxDelayMs: 250, multiplier: 2, jitter: 0 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
  return {
    mock,
    store,
    requests,
    sleeps,
    answer(method, path, ...answers) {
      let next = 0;
      mock.add({ method, path }, (params) => {
        requests.push(params);
        const answer = answers[Math.min(next++, answers.length - 1)] as Answer;
        return answer as Record<string, unknown>;
      });
    },
  };
}

const APRIL_END = Date.UTC(2023, 3, 30, 23, 55);
const MAY_START = Date.UTC(2023, 4, 1, 0, 0);

function prediction(madeAt: number, horizonMinutes = 5, overrides: Partial<Prediction> = {}): Prediction {
  return {
    v: 1,
    id: predictionId('BTC/USD', horizonMinutes, madeAt),
    pair: 'BTC/USD',
    horizonMinutes,
    madeAt,
    targetTime: madeAt + horizonMinutes * 60_000,
    basePrice: 29_000,
    predictedLogReturn: 0.001,
    predictedPrice: 29_029.01,
    lowerBound: 28_900,
    upperBound: 29_150,
    modelName: 'linear',
    modelVersion: '3',
    ...overrides,
  };
}

// Local time in Tokyo is already May: the index names below can only come from UTC.
assert.equal(new Date(APRIL_END).getMonth(), 4, 'TZ=Asia/Tokyo took effect');

const P1 = prediction(APRIL_END, 5);
const P2 = prediction(APRIL_END, 15);
const P3 = prediction(MAY_START, 5);

const created = (index: string, id: string) => ({ create: { _index: index, _id: id, status: 201, result: 'created' } });
const createFailed = (index: string, id: string, status: number, type: string) => ({
  create: { _index: index, _id: id, status, error: { type, reason: `${type} for ${id}` } },
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

const ES = { backend: 'elasticsearch' };

describe('ElasticsearchPredictionStore', () => {
  it('retries only the items that failed with 429, after a backoff, until they pass', async () => {
    const h = harness();
    h.answer(
      'POST',
      '/_bulk',
      {
        errors: true,
        took: 1,
        items: [
          created('tickcast-predictions-2023.04', P1.id),
          createFailed('tickcast-predictions-2023.04', P2.id, 429, 'es_rejected_execution_exception'),
          created('tickcast-predictions-2023.05', P3.id),
        ],
      },
      { errors: false, took: 1, items: [created('tickcast-predictions-2023.04', P2.id)] },
    );
    const before = await metricValue('tickcast_predictions_store_retries_total', {
      ...ES,
      op: 'create',
      scope: 'items',
    });
    await h.store.writePredictions([P1, P2, P3]);

    assert.equal(h.requests.length, 2);
    assert.deepEqual(h.requests[1]?.body, [{ create: { _index: 'tickcast-predictions-2023.04', _id: P2.id } }, P2]);
    assert.deepEqual(h.sleeps, [100]);
    assert.equal(
      await metricValue('tickcast_predictions_store_retries_total', { ...ES, op: 'create', scope: 'items' }),
      before + 1,
    );
  });

  it('gives up on items still failing with 429 after maxAttempts: RATE_LIMITED (retriable), naming them', async () => {
    const h = harness({ maxAttempts: 3 });
    h.answer('POST', '/_bulk', {
      errors: true,
      took: 1,
      items: [createFailed('tickcast-predictions-2023.04', P1.id, 429, 'es_rejected_execution_exception')],
    });
    const error = await rejection(h.store.writePredictions([P1]));
    assert.equal(error.code, 'RATE_LIMITED');
    assert.equal(error.retriable, true);
    assert.match(error.message, /BTC\/USD\|5m\|2023-04-30T23:55:00\.000Z/);
    assert.equal(h.requests.length, 3);
    assert.deepEqual(h.sleeps, [100, 200], 'exponential: 100 then 200 ms');
  });

  it('retries a whole request answered 503 (its own backoff, not the transport’s), then succeeds', async () => {
    const h = harness();
    h.answer(
      'POST',
      '/_bulk',
      responseError(503, { error: { type: 'unavailable_shards_exception', reason: 'no shards' }, status: 503 }),
      { errors: false, took: 1, items: [created('tickcast-predictions-2023.04', P1.id)] },
    );
    const before = await metricValue('tickcast_predictions_store_retries_total', {
      ...ES,
      op: 'bulk',
      scope: 'request',
    });
    await h.store.writePredictions([P1]);
    assert.equal(h.requests.length, 2, 'one failed attempt, one retry: the transport did not retry on its own');
    assert.deepEqual(h.requests[1]?.body, h.requests[0]?.body);
    assert.deepEqual(h.sleeps, [100]);
    assert.equal(
      await metricValue('tickcast_predictions_store_retries_total', { ...ES, op: 'bulk', scope: 'request' }),
      before + 1,
    );
  });

  it('caps the backoff and gives up after maxAttempts on a request that keeps failing with 503', async () => {
    const h = harness({ maxAttempts: 4 });
    h.answer('POST', '/_bulk', responseError(503, { error: 'unavailable', status: 503 }));
    const error = await rejection(h.store.writePredictions([P1]));
    assert.equal(error.code, 'UPSTREAM_UNAVAILABLE');
    assert.equal(error.retriable, true);
    assert.match(error.message, /after 4 attempts/);
    assert.equal(h.requests.length, 4);
    assert.deepEqual(h.sleeps, [100, 200, 250], 'doubling, capped at maxDelayMs 250');
  });

  it('names the documents refused for themselves (a mapping conflict) in RecordsRefused, without retrying them', async () => {
    const h = harness();
    h.answer('POST', '/_bulk', {
      errors: true,
      took: 1,
      items: [
        created('tickcast-predictions-2023.04', P1.id),
        createFailed('tickcast-predictions-2023.04', P2.id, 400, 'document_parsing_exception'),
      ],
    });
    const error = await rejection(h.store.writePredictions([P1, P2]));
    assert.ok(error instanceof RecordsRefused, String(error));
    assert.equal(error.retriable, false);
    assert.deepEqual(error.refused, [
      { id: P2.id, reason: `400 document_parsing_exception: document_parsing_exception for ${P2.id}` },
    ]);
    assert.equal(h.requests.length, 1);
  });

  it('retries the whole call (retriable) when items are both refused and still failing with 429', async () => {
    const h = harness({ maxAttempts: 2 });
    h.answer(
      'POST',
      '/_bulk',
      {
        errors: true,
        took: 1,
        items: [
          createFailed('tickcast-predictions-2023.04', P1.id, 429, 'es_rejected_execution_exception'),
          createFailed('tickcast-predictions-2023.04', P2.id, 400, 'document_parsing_exception'),
        ],
      },
      {
        errors: true,
        took: 1,
        items: [createFailed('tickcast-predictions-2023.04', P1.id, 429, 'es_rejected_execution_exception')],
      },
    );
    const error = await rejection(h.store.writePredictions([P1, P2]));
    assert.equal(error.code, 'RATE_LIMITED');
    assert.equal(error.retriable, true);
    assert.match(error.message, /also rejected/);
  });

  it('reports outcomes whose predictions are missing (404) apart from outcomes refused for themselves', async () => {
    const h = harness();
    const updated = (id: string) => ({
      update: { _index: 'tickcast-predictions-2023.04', _id: id, status: 200, result: 'updated' },
    });
    const updateFailed = (id: string, status: number, type: string) => ({
      update: { _index: 'tickcast-predictions-2023.04', _id: id, status, error: { type, reason: type } },
    });
    h.answer(
      'POST',
      '/_bulk',
      { errors: true, took: 1, items: [updated(P1.id), updateFailed(P2.id, 404, 'document_missing_exception')] },
      {
        errors: true,
        took: 1,
        items: [
          updateFailed(P1.id, 400, 'mapper_parsing_exception'),
          updateFailed(P2.id, 404, 'document_missing_exception'),
        ],
      },
    );
    const missing = await rejection(
      h.store.recordOutcomes([P1, P2].map((p) => ({ id: p.id, actualPrice: 1, error: 0 }))),
    );
    assert.ok(missing instanceof PredictionsNotStored);
    assert.deepEqual(missing.ids, [P2.id]);
    const refused = await rejection(
      h.store.recordOutcomes([P1, P2].map((p) => ({ id: p.id, actualPrice: 1, error: 0 }))),
    );
    assert.ok(refused instanceof RecordsRefused);
    assert.deepEqual(
      refused.refused.map((r) => r.id),
      [P1.id],
      'the missing one is not refused: it may still arrive',
    );
  });

  it('does not retry a request refused for itself (400)', async () => {
    const h = harness();
    h.answer(
      'POST',
      '/_bulk',
      responseError(400, { error: { type: 'illegal_argument_exception', reason: 'bad bulk' }, status: 400 }),
    );
    const error = await rejection(h.store.writePredictions([P1]));
    assert.equal(error.code, 'UPSTREAM_REJECTED');
    assert.match(error.message, /illegal_argument_exception: bad bulk/);
    assert.equal(h.requests.length, 1);
    assert.deepEqual(h.sleeps, []);
  });

  it('refuses invalid predictions before sending anything', async () => {
    const h = harness();
    h.answer('POST', '/_bulk', { errors: false, took: 1, items: [] });
    const error = await rejection(h.store.writePredictions([P1, { ...P3, predictedPrice: Number.NaN }]));
    assert.equal(error.code, 'INVALID_EVENT');
    assert.ok(error.message.includes(P3.id), error.message);
    assert.equal(h.requests.length, 0);
  });

  it('refuses outcomes whose ids are not prediction ids (their index is unknown) without a request', async () => {
    const h = harness();
    h.answer('POST', '/_bulk', { errors: false, took: 1, items: [] });
    const unroutable = await rejection(
      h.store.recordOutcomes([{ id: 'BTC/USD|5m|yesterday', actualPrice: 1, error: 0 }]),
    );
    assert.equal(unroutable.code, 'INVALID_EVENT');
    assert.match(unroutable.message, /BTC\/USD\|5m\|yesterday/);
    assert.equal(h.requests.length, 0, 'nothing sent for an unroutable id');
  });

  it('pendingDue refuses a limit outside 1..10000 without a request', async () => {
    const h = harness();
    h.answer('POST', '/:index/_search', { hits: { hits: [] } });
    assert.equal((await rejection(h.store.pendingDue(0, 0))).code, 'CONFIG_INVALID');
    assert.equal((await rejection(h.store.pendingDue(0, 10_001))).code, 'CONFIG_INVALID');
    assert.equal(h.requests.length, 0);
  });

  it('passes the client’s product check with the mock, and fails without retrying when a server is not Elasticsearch', async () => {
    // The mock answers with X-Elastic-Product: Elasticsearch (every test above relies on it);
    // this connection drops the header, as an OpenSearch server would not send it.
    const mock = new Mock();
    let calls = 0;
    mock.add({ method: 'POST', path: '/_bulk' }, () => {
      calls++;
      return { errors: false, took: 1, items: [created('tickcast-predictions-2023.04', P1.id)] };
    });
    const MockConnection = mock.getConnection() as unknown as new (...args: never[]) => {
      request(params: unknown, options: unknown): Promise<{ headers: Record<string, unknown> }>;
    };
    class NotElasticsearch extends MockConnection {
      override async request(params: unknown, options: unknown): Promise<{ headers: Record<string, unknown> }> {
        const response = await super.request(params, options);
        delete response.headers['x-elastic-product'];
        return response;
      }
    }
    const store = new ElasticsearchPredictionStore({
      client: new Client({ node: 'http://es.test:9200', Connection: NotElasticsearch as never }),
      logger,
      sleep: async () => {},
    });
    const error = await rejection(store.writePredictions([P1]));
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(calls, 1);

    const ok = harness();
    ok.answer('POST', '/_bulk', { errors: false, took: 1, items: [created('tickcast-predictions-2023.04', P1.id)] });
    await ok.store.writePredictions([P1]);
  });

  it('closes the client only when it owns it', async () => {
    let closed = 0;
    const client = { close: async () => void closed++ } as unknown as Client;
    await new ElasticsearchPredictionStore({ client, logger }).close();
    assert.equal(closed, 0);
    await new ElasticsearchPredictionStore({ client, logger, ownsClient: true }).close();
    assert.equal(closed, 1);
  });
});
