/**
 * The gateway's subscription fan-out on real Kafka: events published on the predictions
 * and alerts topics reach the predictions subgraph (its own process, so it can be killed),
 * the gateway holds one upstream subscription for many clients, closes it when they leave,
 * cuts off a client that stops reading, and resumes after the subgraph restarts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import type { FormattedExecutionResult } from 'graphql';
import WebSocket from 'ws';
import { generateApiKey } from '../../gateway/auth.ts';
import { gatewayConfigFromEnv } from '../../gateway/config.ts';
import { createGateway, type RunningGateway } from '../../gateway/server.ts';
import { loadConfig } from '../../lib/config.ts';
import { metricValue } from '../../lib/metrics.ts';
import type { ModelAlert, Prediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { createBus } from '../../streams/runtime.ts';
import { marketsSubgraph } from '../../subgraphs/markets/index.ts';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { samplePrediction } from '../support/events.ts';
import { freePort, scrape } from '../support/ports.ts';
import { kill9, startService, stopGracefully, type Service } from '../support/processes.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const PAIR = `S${suffix}/USD`;

const PREDICTIONS = `subscription Live($pair: ID) {
  predictionCreated(pair: $pair) { id predictedPrice market { pair base } }
}`;

type Event = FormattedExecutionResult<Record<string, unknown>>;

/** A graphql-ws client that records what it receives on one subscription. */
interface Subscriber {
  readonly client: Client;
  readonly events: Event[];
  readonly errors: unknown[];
  completed: boolean;
  close(): Promise<void>;
}

function subscribe(url: string, key: string, query: string, variables: Record<string, unknown> = {}): Subscriber {
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { 'x-api-key': key },
    retryAttempts: 0,
  });
  const subscriber: Subscriber = {
    client,
    events: [],
    errors: [],
    completed: false,
    close: () => client.dispose() as Promise<void>,
  };
  client.subscribe<Record<string, unknown>>(
    { query, variables },
    {
      next: (event) => subscriber.events.push(event as Event),
      error: (error) => subscriber.errors.push(error),
      complete: () => (subscriber.completed = true),
    },
  );
  return subscriber;
}

let sequence = 0;
const prediction = (): Prediction => {
  sequence++;
  return samplePrediction(PAIR, sequence, { predictedPrice: 100.1 + sequence, lowerBound: 99, upperBound: 101 });
};

function alert(recommendation: string): ModelAlert {
  return {
    v: 1,
    modelName: 'tickcast-test-1m',
    modelVersion: '1',
    pair: PAIR,
    horizonMinutes: 1,
    rollingMae: 2,
    trainingMae: 1,
    factor: 2,
    recommendation,
    at: Date.now(),
  };
}

describe('gateway subscriptions: fan-out, slow consumers and subgraph restarts', () => {
  let iso: Isolation;
  let bus: Bus;
  let gateway: RunningGateway;
  let markets: RunningSubgraph;
  let predictions: Service;
  let subgraphPort: number;
  let subgraphMetrics: number;
  let key: string;
  let otherKey: string;

  const startPredictions = async (): Promise<void> => {
    predictions = startService('predictions subgraph', ['subgraph', 'predictions'], {
      ...iso.env,
      SUBGRAPH_PORT: String(subgraphPort),
      METRICS_PORT: String(subgraphMetrics),
    });
    // It listens only once its live consumer has joined the group, so an answer means ready.
    const answers = () =>
      fetch(`http://127.0.0.1:${subgraphPort}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      }).then(
        (response) => response.ok,
        () => false,
      );
    await waitFor('the predictions subgraph', answers, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${predictions.output()}`);
    });
  };
  const upstreamSubscriptions = () =>
    scrape(subgraphMetrics, 'tickcast_subgraph_subscriptions_active{subgraph="predictions"}');
  const publishPredictions = (values: Prediction[]) =>
    bus.publish(values.map((value) => ({ topic: TOPICS.predictions.name, key: value.pair, value })));

  before(async () => {
    const reader = generateApiKey('dashboard', ['read']);
    const other = generateApiKey('other', ['read']);
    key = reader.key;
    otherKey = other.key;
    iso = await isolate('subs', {
      PAIRS: PAIR,
      GATEWAY_API_KEYS: `${reader.entry},${other.entry}`,
      GATEWAY_SUBSCRIPTIONS_PER_KEY: '100',
      // Each of the 100 clients below opens its own connection.
      GATEWAY_WS_CONNECTIONS_PER_KEY: '200',
      GATEWAY_WS_MAX_BUFFERED_BYTES: String(1024 * 1024),
      GATEWAY_SUBSCRIPTION_GRACE_MS: '1000',
      GATEWAY_SUBSCRIPTION_MAX_BACKOFF_MS: '500',
      GATEWAY_RATE_LIMIT_BURST: '1000',
      GATEWAY_RATE_LIMIT_PER_SECOND: '1000',
      // Shared by the gateway and the subgraph process: the gateway's upstream socket is signed.
      TICKCAST_INTERNAL_SECRET: randomBytes(32).toString('hex'),
    });
    bus = await createBus(iso.config, testLogger);
    subgraphPort = await freePort();
    subgraphMetrics = await freePort();
    await startPredictions();
    markets = await startSubgraph(marketsSubgraph({ pairs: [PAIR] }), {
      pool: iso.pool,
      bus: new MemoryBus(),
      logger: testLogger,
      port: 0,
      host: '127.0.0.1',
    });
    const unused = `http://127.0.0.1:${await freePort()}/graphql`;
    const config = loadConfig({
      ...iso.env,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      SUBGRAPH_PREDICTIONS_URL: `http://127.0.0.1:${subgraphPort}/graphql`,
      SUBGRAPH_MARKETS_URL: markets.url,
      SUBGRAPH_FEATURES_URL: unused,
      SUBGRAPH_SENTIMENT_URL: unused,
      SUBGRAPH_MODELS_URL: unused,
    });
    gateway = await createGateway(await gatewayConfigFromEnv(config), { logger: testLogger });
  });

  after(async () => {
    await gateway?.stop();
    await markets?.stop();
    if (predictions) await stopGracefully(predictions);
    await bus?.close();
    await iso?.close();
  });

  it('refuses a connection without a valid key (4403)', async () => {
    const closed = await new Promise<number>((resolve) => {
      const client = createClient({
        url: gateway.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: { 'x-api-key': 'tck_nobody_0000' },
        retryAttempts: 0,
        on: { closed: (event) => resolve((event as { code: number }).code) },
      });
      client.subscribe({ query: PREDICTIONS }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    assert.equal(closed, 4403);
  });

  it('applies the query limits to subscriptions and runs queries over the same socket', async () => {
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: id`).join(' ');
    const abusive = subscribe(gateway.url, key, `subscription { predictionCreated { ${aliases} } }`);
    const query = subscribe(gateway.url, key, '{ markets { pair base } }');
    try {
      await waitFor('the abusive subscription refused', async () => abusive.errors.length > 0, 10_000);
      assert.equal(
        (abusive.errors[0] as { extensions?: { code?: string } }[])[0]?.extensions?.code,
        'TOO_MANY_ALIASES',
      );
      await waitFor('the query answered', async () => query.completed, 10_000);
      assert.deepEqual(query.events, [{ data: { markets: [{ pair: PAIR, base: PAIR.split('/')[0] }] } }]);
      assert.equal(await upstreamSubscriptions(), 0, 'nothing reached the subgraph');
    } finally {
      await Promise.all([abusive.close(), query.close()]);
    }
  });

  it('serves 100 clients from one upstream subscription, resolving the markets fields for each', async () => {
    const clients = Array.from({ length: 100 }, () => subscribe(gateway.url, key, PREDICTIONS, { pair: PAIR }));
    try {
      await waitFor(
        '100 open subscriptions',
        async () => (await metricValue('tickcast_gateway_subscriptions_active')) === 100,
        30_000,
      );
      assert.equal(await upstreamSubscriptions(), 1, 'exactly one subscription reached the subgraph');
      for (const reason of ['unsigned', 'malformed', 'stale', 'forged', 'replayed']) {
        const sample = `tickcast_subgraph_unsigned_requests_total{subgraph="predictions",transport="ws",reason="${reason}"}`;
        assert.equal(await scrape(subgraphMetrics, sample), 0, `the gateway's socket is signed (${reason})`);
      }
      // A second, different subscription to the same subgraph shares the gateway's socket to it.
      const alerts = subscribe(gateway.url, otherKey, 'subscription { modelAlert { factor } }');
      await waitFor('the alert subscription upstream', async () => (await upstreamSubscriptions()) === 2, 10_000);
      assert.equal(
        await scrape(subgraphMetrics, 'tickcast_subgraph_ws_connections_active{subgraph="predictions"}'),
        1,
        'one multiplexed socket from the gateway',
      );
      await alerts.close();
      await waitFor('the alert subscription ended', async () => (await upstreamSubscriptions()) === 1, 10_000);
      assert.equal(await metricValue('tickcast_gateway_subscription_upstreams_active', { subgraph: 'predictions' }), 1);

      // The key's limit is 100: one more is refused, another key is not affected.
      const extra = subscribe(gateway.url, key, PREDICTIONS, { pair: PAIR });
      const otherKeys = subscribe(gateway.url, otherKey, PREDICTIONS, { pair: PAIR });
      await waitFor('the 101st subscription refused', async () => extra.errors.length > 0, 10_000);
      assert.equal(
        (extra.errors[0] as { extensions?: { code?: string } }[])[0]?.extensions?.code,
        'TOO_MANY_SUBSCRIPTIONS',
      );
      await extra.close();

      const sent = [prediction(), prediction(), prediction()];
      await publishPredictions(sent);
      const everyone = [...clients, otherKeys];
      await waitFor(
        'every client to receive 3 events',
        async () => everyone.every((c) => c.events.length >= 3),
        30_000,
      );
      for (const client of everyone) {
        assert.deepEqual(
          client.events.map((e) => e.data?.['predictionCreated']),
          sent.map((p) => ({
            id: p.id,
            predictedPrice: p.predictedPrice,
            market: { pair: PAIR, base: PAIR.split('/')[0] },
          })),
        );
      }
      assert.equal(await upstreamSubscriptions(), 1, 'still one upstream subscription');
      await otherKeys.close();
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    const left = Date.now();
    await waitFor('the upstream subscription to close', async () => (await upstreamSubscriptions()) === 0, 5_000, 20);
    const closedAfter = Date.now() - left;
    assert.ok(closedAfter < 1_000, `upstream closed ${closedAfter} ms after the last client left`);
    assert.equal(await metricValue('tickcast_gateway_subscription_upstreams_active', { subgraph: 'predictions' }), 0);
  });

  it('disconnects a client that stops reading while another keeps receiving', async () => {
    const query = 'subscription { modelAlert { factor recommendation } }';
    const fast = subscribe(gateway.url, key, query);
    // A raw graphql-transport-ws client that subscribes, then stops reading its socket.
    const slow = new WebSocket(gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const slowClosed = new Promise<{ code: number; reason: string }>((resolve) =>
      slow.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    await new Promise((resolve) => slow.once('open', resolve));
    slow.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key } }));
    await new Promise((resolve) => slow.once('message', resolve));
    slow.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
    await waitFor('both subscribed', async () => (await upstreamSubscriptions()) === 1, 10_000);
    await waitFor(
      'two clients on the alert stream',
      async () => (await metricValue('tickcast_gateway_subscriptions_active')) === 2,
      10_000,
    );
    (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    const dropped = await metricValue('tickcast_gateway_subscription_clients_dropped_total', {
      reason: 'slow_consumer',
    });
    // 16 KiB per event: a few MB fill the socket buffers, then the gateway's 1 MiB of unread bytes.
    const total = 600;
    const recommendation = 'retrain '.repeat(2_048);
    for (let sent = 0; sent < total; sent += 50) {
      await bus.publish(
        Array.from({ length: 50 }, () => ({
          topic: TOPICS.modelAlerts.name,
          key: 'tickcast-test-1m',
          value: alert(recommendation),
        })),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitFor('the fast client to receive every alert', async () => fast.events.length >= total, 60_000);
    await waitFor(
      'the slow client to be dropped',
      async () =>
        (await metricValue('tickcast_gateway_subscription_clients_dropped_total', { reason: 'slow_consumer' })) >
        dropped,
      30_000,
    );
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.deepEqual(
      await slowClosed,
      { code: 1008, reason: `slow consumer: more than ${1024 * 1024} bytes unread` },
      'closed as a policy violation (slow consumer), naming the bound that applies',
    );
    assert.equal(fast.events.length, total);
    assert.ok(fast.events.every((e) => e.data?.['modelAlert'] && !e.errors));
    await fast.close();
  });

  it('tells clients when the subgraph dies and resumes delivery after it restarts', async () => {
    await waitFor('earlier subscriptions to end', async () => (await upstreamSubscriptions()) === 0, 10_000);
    const client = subscribe(gateway.url, key, PREDICTIONS, { pair: PAIR });
    try {
      await waitFor('the upstream subscription', async () => (await upstreamSubscriptions()) === 1, 10_000);
      await publishPredictions([prediction()]);
      await waitFor('an event before the crash', async () => client.events.length >= 1, 30_000);

      await kill9(predictions);
      await waitFor(
        'an error event while the subgraph is down',
        async () => client.events.some((e) => e.errors?.[0]?.extensions?.['code'] === 'SUBGRAPH_UNAVAILABLE'),
        10_000,
      );
      assert.equal(client.completed, false, 'the stream stays open');

      await startPredictions();
      await waitFor('the gateway to resubscribe', async () => (await upstreamSubscriptions()) === 1, 30_000);
      const after = prediction();
      await publishPredictions([after]);
      await waitFor(
        'delivery after the restart',
        async () => client.events.some((e) => (e.data?.['predictionCreated'] as { id?: string })?.id === after.id),
        30_000,
      );
      assert.deepEqual(client.errors, []);
    } finally {
      await client.close();
    }
  });

  it('completes open subscriptions on graceful shutdown', async () => {
    await waitFor('earlier subscriptions to end', async () => (await upstreamSubscriptions()) === 0, 10_000);
    const client = subscribe(gateway.url, key, PREDICTIONS, { pair: PAIR });
    await waitFor('the upstream subscription', async () => (await upstreamSubscriptions()) === 1, 10_000);
    await gateway.stop();
    await waitFor('the client to see complete', async () => client.completed, 5_000);
    await client.close();
  });
});
