/**
 * Graceful degradation of a federated subscription: `predictionCreated` comes from the
 * predictions subgraph, and each event's `market { lastTrade }` from the markets subgraph,
 * each its own `tickcast subgraph` process on real Kafka and PostgreSQL. With the markets
 * subgraph killed, a client still gets every prediction, with a typed error on the missing
 * field (as Apollo Router and Hive Gateway answer a failed entity fetch: partial data, an
 * error with a code and the path of what is missing; @apollo/gateway's executor gives no
 * path); when it is back, the same
 * subscription delivers whole events again, without the client resubscribing. The same with
 * the markets subgraph up but its store unreachable (its PostgreSQL connections go through a
 * proxy the test cuts): the missing field carries STORE_UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import type { FormattedExecutionResult } from 'graphql';
import WebSocket from 'ws';
import { generateApiKey } from '../../gateway/auth.ts';
import { gatewayConfigFromEnv } from '../../gateway/config.ts';
import { createGateway, type RunningGateway } from '../../gateway/server.ts';
import { loadConfig } from '../../lib/config.ts';
import type { Prediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { createBus } from '../../streams/runtime.ts';
import { samplePrediction } from '../support/events.ts';
import { freePort } from '../support/ports.ts';
import { kill9, startService, stopGracefully, type Service } from '../support/processes.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const PAIR = `D${suffix}/USD`;
const PRICE = 123.45;

const QUERY = `subscription Degraded($pair: ID) {
  predictionCreated(pair: $pair) { id predictedPrice market { pair lastTrade { price } } }
}`;

type Event = FormattedExecutionResult<{
  predictionCreated?: {
    id: string;
    predictedPrice: number;
    market: { pair: string; lastTrade: { price: number } } | null;
  };
}>;

/** A TCP proxy to PostgreSQL that the test can cut (refusing and dropping connections) and open again. */
class StoreLink {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

let sequence = 0;
const prediction = (): Prediction => {
  sequence++;
  return samplePrediction(PAIR, sequence, { predictedPrice: 100 + sequence, lowerBound: 99, upperBound: 101 });
};

describe('graceful degradation: a federated subscription while the entity subgraph is down', () => {
  let iso: Isolation;
  let bus: Bus;
  let gateway: RunningGateway;
  const subgraphs = new Map<'predictions' | 'markets', { service?: Service; port: number; metrics: number }>();
  let client: Client;
  const events: Event[] = [];
  const failures: unknown[] = [];
  let completed = false;
  let storeLink: StoreLink;

  const answers = (port: number) => () =>
    fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    }).then(
      (response) => response.ok,
      () => false,
    );

  const start = async (name: 'predictions' | 'markets'): Promise<void> => {
    const s = subgraphs.get(name)!;
    // The markets subgraph reaches its store through the link the test can cut.
    const database = new URL(iso.env['DATABASE_URL']!);
    if (name === 'markets') database.port = String(storeLink.port);
    s.service = startService(`${name} subgraph`, ['subgraph', name], {
      ...iso.env,
      DATABASE_URL: database.toString(),
      SUBGRAPH_PORT: String(s.port),
      METRICS_PORT: String(s.metrics),
    });
    await waitFor(`the ${name} subgraph`, answers(s.port), 90_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${s.service?.output()}`);
    });
  };

  const publish = (value: Prediction) => bus.publish([{ topic: TOPICS.predictions.name, key: value.pair, value }]);

  const eventOf = (id: string) => events.find((e) => e.data?.predictionCreated?.id === id);

  before(async () => {
    const reader = generateApiKey('dashboard', ['read']);
    iso = await isolate('degrade', {
      PAIRS: PAIR,
      GATEWAY_API_KEYS: reader.entry,
      GATEWAY_SUBSCRIPTION_GRACE_MS: '1000',
      GATEWAY_SUBSCRIPTION_MAX_BACKOFF_MS: '500',
      TICKCAST_INTERNAL_SECRET: randomBytes(32).toString('hex'),
    });
    await iso.pool.query(
      `INSERT INTO trades (pair, trade_id, price, qty, side, time, source) VALUES ($1, 1, $2, 1, 'buy', now(), 'test')`,
      [PAIR, PRICE],
    );
    bus = await createBus(iso.config, testLogger);
    const store = new URL(requireServices().databaseUrl);
    storeLink = new StoreLink(await freePort(), { host: store.hostname, port: Number(store.port || 5432) });
    await storeLink.open();
    for (const name of ['predictions', 'markets'] as const)
      subgraphs.set(name, { port: await freePort(), metrics: await freePort() });
    await start('predictions');
    await start('markets');
    const unused = `http://127.0.0.1:${await freePort()}/graphql`;
    const config = loadConfig({
      ...iso.env,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      SUBGRAPH_PREDICTIONS_URL: `http://127.0.0.1:${subgraphs.get('predictions')!.port}/graphql`,
      SUBGRAPH_MARKETS_URL: `http://127.0.0.1:${subgraphs.get('markets')!.port}/graphql`,
      SUBGRAPH_FEATURES_URL: unused,
      SUBGRAPH_SENTIMENT_URL: unused,
      SUBGRAPH_MODELS_URL: unused,
    });
    gateway = await createGateway(await gatewayConfigFromEnv(config), { logger: testLogger });
    client = createClient({
      url: gateway.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': reader.key },
      retryAttempts: 0,
    });
    client.subscribe(
      { query: QUERY, variables: { pair: PAIR } },
      {
        next: (event) => events.push(event as Event),
        error: (error) => failures.push(error),
        complete: () => (completed = true),
      },
    );
    // The live feed starts at the topic's end when the upstream subscription starts: publish until one arrives.
    await waitFor(
      'a first whole event',
      async () => {
        if (events.length > 0) return true;
        await publish(prediction());
        return false;
      },
      60_000,
      1_000,
    );
  });

  after(async () => {
    await client?.dispose();
    await gateway?.stop();
    for (const s of subgraphs.values()) if (s.service) await stopGracefully(s.service);
    await storeLink?.cut();
    await bus?.close();
    await iso?.close();
  });

  it('delivers whole events while both subgraphs are up', () => {
    const first = events[0];
    assert.equal(first?.errors, undefined, JSON.stringify(first));
    assert.equal(first?.data?.predictionCreated?.market?.lastTrade.price, PRICE);
  });

  it('with the markets subgraph killed: the prediction still arrives, the missing field null with a typed error at its path', async () => {
    await kill9(subgraphs.get('markets')!.service!);
    const during = prediction();
    await publish(during);
    await waitFor('the event published while markets is down', async () => eventOf(during.id) !== undefined, 30_000);
    const event = eventOf(during.id)!;
    assert.equal(event.data?.predictionCreated?.predictedPrice, during.predictedPrice, JSON.stringify(event));
    // The market's key comes with the prediction; only what the markets subgraph owns is missing.
    assert.deepEqual(event.data?.predictionCreated?.market, { pair: PAIR, lastTrade: null }, JSON.stringify(event));
    assert.deepEqual(event.errors, [
      {
        message: 'subgraph "markets" is unavailable',
        path: ['predictionCreated', 'market', 'lastTrade'],
        extensions: { serviceName: 'markets', reason: 'unreachable', code: 'SUBGRAPH_UNAVAILABLE' },
      },
    ]);
    assert.deepEqual(failures, []);
    assert.equal(completed, false, 'the subscription stays open');
  });

  it('resumes whole events on the same subscription once the markets subgraph is back', async () => {
    await start('markets');
    const back = prediction();
    await waitFor(
      'a whole event after the restart',
      async () => {
        const event = events.find((e) => e.data?.predictionCreated?.market?.lastTrade);
        const latest = events.at(-1);
        if (latest?.data?.predictionCreated?.market?.lastTrade && !latest.errors) return event !== undefined;
        await publish(prediction());
        return false;
      },
      60_000,
      1_000,
    );
    await publish(back);
    await waitFor('the event after recovery', async () => eventOf(back.id) !== undefined, 30_000);
    const event = eventOf(back.id)!;
    assert.equal(event.errors, undefined, JSON.stringify(event));
    assert.equal(event.data?.predictionCreated?.market?.lastTrade.price, PRICE);
    assert.deepEqual(failures, []);
    assert.equal(completed, false);
  });

  it("with the markets subgraph's store cut: the prediction arrives, the missing field null with STORE_UNAVAILABLE at its path", async () => {
    await storeLink.cut();
    const during = prediction();
    await publish(during);
    await waitFor('the event published while the store is cut', async () => eventOf(during.id) !== undefined, 60_000);
    const event = eventOf(during.id)!;
    assert.equal(event.data?.predictionCreated?.predictedPrice, during.predictedPrice, JSON.stringify(event));
    assert.deepEqual(event.data?.predictionCreated?.market, { pair: PAIR, lastTrade: null }, JSON.stringify(event));
    assert.equal(event.errors?.length, 1, JSON.stringify(event));
    assert.deepEqual(event.errors?.[0]?.path, ['predictionCreated', 'market', 'lastTrade']);
    assert.equal(event.errors?.[0]?.extensions?.['code'], 'STORE_UNAVAILABLE', JSON.stringify(event));
    assert.equal(event.errors?.[0]?.extensions?.['serviceName'], 'markets', JSON.stringify(event));

    await storeLink.open();
    await waitFor(
      'a whole event with the store back',
      async () => {
        const latest = events.at(-1);
        if (latest?.data?.predictionCreated?.market?.lastTrade && !latest.errors && latest !== event) return true;
        await publish(prediction());
        return false;
      },
      60_000,
      1_000,
    );
    assert.deepEqual(failures, []);
    assert.equal(completed, false);
  });
});
