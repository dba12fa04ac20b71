/**
 * `tickcast` as a user runs it: `start` on the embedded default against a (fake) live
 * Kraken, its fallback when Kraken cannot be reached, and `record`.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { FakeKrakenWsServer, wireTrade } from '../fakes/kraken-ws-server.ts';
import { FakeKrakenRestServer, syntheticCandles } from '../fakes/kraken-rest-server.ts';
import { BTC_CANDLES, requireData } from '../support/data.ts';
import { freePort, scrape } from '../support/ports.ts';
import { startService, stopGracefully, type Service } from '../support/processes.ts';
import { waitFor } from '../support/services.ts';

const running: Service[] = [];
const fakes: FakeKrakenWsServer[] = [];
const restFakes: FakeKrakenRestServer[] = [];

after(async () => {
  for (const service of running) await stopGracefully(service);
  for (const fake of fakes) await fake.close();
  for (const fake of restFakes) await fake.close();
});

async function embeddedStart(
  args: string[],
  env: Record<string, string>,
): Promise<{ service: Service; port: number; gatewayPort: number }> {
  const port = await freePort();
  const gatewayPort = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'tickcast-start-'));
  const service = startService(
    'start',
    ['start', ...args],
    {
      METRICS_PORT: String(port),
      GATEWAY_PORT: String(gatewayPort),
      TICKCAST_DATA_DIR: dataDir,
      PAIRS: 'BTC/USD',
      ...env,
    },
    { embedded: true },
  );
  running.push(service);
  return { service, port, gatewayPort };
}

describe('tickcast start (embedded default)', () => {
  it('falls back to the given replay when Kraken cannot be reached, says so, and fills the store', async () => {
    const closed = await freePort();
    const { service, port, gatewayPort } = await embeddedStart(
      [
        '--replay',
        requireData(BTC_CANDLES),
        '--from',
        '2023-04-04T00:00:00Z',
        '--to',
        '2023-04-04T02:00:00Z',
        '--speed',
        '0',
      ],
      { KRAKEN_WS_URL: `ws://127.0.0.1:${closed}` },
    );
    // Two hours: 120 one-minute, 24 five-minute, 8 fifteen-minute and 2 hourly candles.
    // Indicators follow the candles through their own processor: wait for both, then check
    // that neither has more than the replay's candles.
    for (const table of ['candles', 'indicators']) {
      await waitFor(
        `the replayed ${table} in the embedded store`,
        async () => (await scrape(port, `tickcast_store_rows_written_total{table="${table}"}`)) >= 154,
        60_000,
      );
    }
    assert.match(service.output(), /Kraken cannot be reached .*falling back to replay of/);
    assert.match(service.output(), /"bus":"memory","store":"embedded","source":"replay-candles"/);
    assert.equal(await scrape(port, 'tickcast_store_rows_written_total{table="candles"}'), 154);
    assert.equal(await scrape(port, 'tickcast_store_rows_written_total{table="indicators"}'), 154);

    // It prints where the API is and this session's key; the replayed market is queryable through the gateway.
    assert.match(
      service.output(),
      new RegExp(`GraphQL API and Apollo Sandbox: http://127.0.0.1:${gatewayPort}/graphql`),
    );
    const key = /this session's admin key is (tck_session_\S+)/.exec(service.output())?.[1];
    assert.ok(key, 'a session key is printed');
    const ask = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${gatewayPort}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({
          query: '{ market(pair: "BTC/USD") { candles(interval: "1h") { edges { node { close } } } } }',
        }),
      });
    const unauthenticated = await ask({});
    assert.equal(unauthenticated.status, 401);
    const answer = (await (await ask({ 'x-api-key': key })).json()) as {
      data: { market: { candles: { edges: { node: { close: number } }[] } } };
    };
    assert.equal(answer.data.market.candles.edges.length, 2);
    assert.equal(
      await stopGracefully(service),
      0,
      `exit status on SIGTERM; the output ends:\n${service.output().slice(-4_000)}`,
    );
  });

  it('trains a first model from the replayed history when the registry is empty, and predictions flow', async () => {
    const closed = await freePort();
    const { service, port } = await embeddedStart(['--replay', requireData(BTC_CANDLES), '--speed', '120'], {
      KRAKEN_WS_URL: `ws://127.0.0.1:${closed}`,
      PREDICTION_HORIZONS: '5',
      CHAMPION_POLL_MS: '1000',
    });
    const predicted = 'tickcast_predictor_predictions_total{pair="BTC/USD",horizon="5",model_version="1"}';
    await waitFor('the first predictions', async () => (await scrape(port, predicted)) > 0, 180_000, 1_000);
    assert.match(
      service.output(),
      /"summary":"tickcast-btc-usd-5m v1 -> (challenger|champion) [^"]*","msg":"initial model trained"/,
    );
    assert.equal(
      await stopGracefully(service),
      0,
      `exit status on SIGTERM; the output ends:\n${service.output().slice(-4_000)}`,
    );
  });

  it('plain start offline: falls back to the SIMULATED market, labels it, trains on simulated history and a subscriber receives predictionCreated', async () => {
    const closed = await freePort();
    const started = Date.now();
    const { service, gatewayPort } = await embeddedStart([], {
      KRAKEN_WS_URL: `ws://127.0.0.1:${closed}`,
      PREDICTION_HORIZONS: '1',
      CHAMPION_POLL_MS: '1000',
    });
    await waitFor('the simulated market to start', async () => /"source":"simulated"/.test(service.output()), 60_000);
    assert.match(service.output(), /falling back to the SIMULATED market/);
    assert.match(service.output(), /SIMULATED MARKET: prices are a random walk/);
    await waitFor(
      'the session key',
      async () => /this session's admin key is tck_session_/.test(service.output()),
      30_000,
    );
    const key = /this session's admin key is (tck_session_\S+)/.exec(service.output())?.[1] ?? '';
    const received: { pair: string; horizonMinutes: number; predictedPrice: number }[] = [];
    const errors: unknown[] = [];
    const client = createClient({
      url: `ws://127.0.0.1:${gatewayPort}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': key },
      retryAttempts: 0,
    });
    client.subscribe<{ predictionCreated: (typeof received)[number] }>(
      { query: 'subscription { predictionCreated { pair horizonMinutes predictedPrice } }' },
      {
        next: (event) => event.data && received.push(event.data.predictionCreated),
        error: (error) => errors.push(error),
        complete: () => {},
      },
    );
    try {
      // The warm-up fills the indicators at once; the first live minute then closes and is predicted.
      await waitFor('a predictionCreated event', async () => received.length > 0, 150_000, 500);
    } finally {
      await client.dispose();
    }
    assert.deepEqual(errors, []);
    assert.equal(received[0]?.pair, 'BTC/USD');
    assert.equal(received[0]?.horizonMinutes, 1);
    assert.ok((received[0]?.predictedPrice ?? 0) > 0);
    assert.match(service.output(), /training the first model on SIMULATED history \(not real market data\)/);
    // The registered version says what it learned from, where a user sees it (the models API).
    const answer = await fetch(`http://127.0.0.1:${gatewayPort}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({
        query: '{ modelVersion(modelName: "tickcast-btc-usd-1m", version: "1") { params { key value } } }',
      }),
    });
    const { data } = (await answer.json()) as {
      data: { modelVersion: { params: { key: string; value: string }[] } | null };
    };
    assert.match(
      data.modelVersion?.params.find((p) => p.key === 'training_data')?.value ?? '',
      /^SIMULATED history, not market data \(SIMULATED-BTCUSD-1m\.csv\)$/,
    );
    assert.match(
      service.output(),
      /"summary":"tickcast-btc-usd-1m v1 -> (challenger|champion) [^"]*","msg":"initial model trained"/,
    );
    process.stderr.write(
      `# plain start offline: first predictionCreated ${((Date.now() - started) / 1000).toFixed(1)} s after launch\n`,
    );
    assert.equal(await stopGracefully(service), 0, service.output());
  });

  it('streams live trades from Kraken (a local server speaking its v2 protocol) into candles, and trains its first model on the candles Kraken serves over REST', async () => {
    const fake = await FakeKrakenWsServer.start({ heartbeatIntervalMs: 200 });
    fakes.push(fake);
    const rest = await FakeKrakenRestServer.start({
      ohlc: {
        XBTUSD: {
          1: syntheticCandles({ count: 1_000, lastOpenSec: Math.floor(Date.now() / 60_000) * 60, intervalMinutes: 1 }),
        },
      },
      ohlcMaxRows: 720,
    });
    restFakes.push(rest);
    const { service, port } = await embeddedStart([], {
      KRAKEN_WS_URL: fake.url,
      KRAKEN_REST_URL: rest.url,
      PREDICTION_HORIZONS: '1',
    });
    await waitFor(
      'the trade subscription',
      async () =>
        /live source: Kraken WebSocket/.test(service.output()) &&
        fake.received.some((m) => JSON.stringify(m.message).includes('"subscribe"')),
      60_000,
    );
    // Three minutes that ended a few minutes ago: the source's clocks close them, no later trade needed.
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;
    fake.publish([
      wireTrade({ trade_id: 1, symbol: 'BTC/USD', price: 100, qty: 1, timeMs: t0 + 1_000 }),
      wireTrade({ trade_id: 2, symbol: 'BTC/USD', price: 110, qty: 1, timeMs: t0 + 30_000 }),
      wireTrade({ trade_id: 3, symbol: 'BTC/USD', price: 105, qty: 1, timeMs: t0 + 61_000 }),
      wireTrade({ trade_id: 4, symbol: 'BTC/USD', price: 104, qty: 1, timeMs: t0 + 125_000 }),
    ]);
    const traded = 'tickcast_candles_emitted_total{pair="BTC/USD",interval="1m",flat="false"}';
    await waitFor('three one-minute candles with trades', async () => (await scrape(port, traded)) >= 3, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await scrape(port, traded), 3);
    assert.ok(
      (await scrape(port, 'tickcast_candles_emitted_total{pair="BTC/USD",interval="1m",flat="true"}')) >= 1,
      'quiet minutes since close flat',
    );
    // The first model: Kraken's 720 most recent one-minute candles over REST, trained in the background.
    await waitFor(
      'the first model trained on Kraken REST candles',
      async () => /"msg":"initial model trained"/.test(service.output()),
      90_000,
    );
    assert.match(
      service.output(),
      /"candles":7\d\d,[^}]*"msg":"training the first model on the candles Kraken serves over REST"/,
    );
    assert.match(service.output(), /"summary":"tickcast-btc-usd-1m v1 -> (challenger|champion)/);
    assert.ok(rest.requests.some((r) => r.endpoint === 'OHLC' && r.query['pair'] === 'XBTUSD'));
    assert.equal(
      await stopGracefully(service),
      0,
      `exit status on SIGTERM; the output ends:\n${service.output().slice(-4_000)}`,
    );
  });
});

describe('tickcast record', () => {
  it('captures live trades to a gzip JSON Lines recording', async () => {
    const fake = await FakeKrakenWsServer.start({ heartbeatIntervalMs: 200 });
    fakes.push(fake);
    const out = join(await mkdtemp(join(tmpdir(), 'tickcast-record-')), 'live.jsonl.gz');
    const service = startService('record', ['record', '--out', out, '--duration', '4'], {
      KRAKEN_WS_URL: fake.url,
      PAIRS: 'BTC/USD,ETH/USD',
      METRICS_PORT: '0',
    });
    running.push(service);
    await waitFor(
      'the subscription',
      async () => fake.received.some((m) => JSON.stringify(m.message).includes('"subscribe"')),
      30_000,
    );
    const now = Date.now();
    fake.publish([
      wireTrade({ trade_id: 10, symbol: 'BTC/USD', price: 28_000.5, qty: 0.25, timeMs: now }),
      wireTrade({ trade_id: 11, symbol: 'ETH/USD', price: 1_900.25, qty: 2, timeMs: now + 1 }),
    ]);
    assert.equal(await service.exited, 0);
    const lines = gunzipSync(await readFile(out))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const trades = lines.filter((l) => l['kind'] === 'trade');
    assert.deepEqual(
      trades.map((t) => [t['pair'], t['tradeId'], t['price'], t['qty'], t['source']]),
      [
        ['BTC/USD', 10, 28_000.5, 0.25, 'kraken-ws'],
        ['ETH/USD', 11, 1_900.25, 2, 'kraken-ws'],
      ],
    );
  });
});

describe('tickcast start-up failures', () => {
  it('Kafka not answering at start-up: exit 1 with one line saying what to do, no stack', async () => {
    const closed = await freePort();
    const service = startService('stream', ['stream', 'candles'], {
      KAFKA_BROKERS: `127.0.0.1:${closed}`,
      METRICS_PORT: '0',
    });
    running.push(service);
    assert.equal(await service.exited, 1, service.output());
    assert.match(service.output(), new RegExp(`tickcast: Kafka at 127\\.0\\.0\\.1:${closed} is not answering`));
    assert.match(service.output(), /scripts\/services up kafka/);
    assert.doesNotMatch(service.output(), /^\s+at /m, 'no stack trace');
  });

  it('a port already in use: exit 1 naming the port', async () => {
    const holder = await freePort();
    const { createServer } = await import('node:net');
    const server = createServer().listen(holder, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { service } = await embeddedStart(['--source', 'replay', '--replay', requireData(BTC_CANDLES)], {
        GATEWAY_PORT: String(holder),
      });
      assert.equal(await service.exited, 1, service.output());
      assert.match(service.output(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${holder}: the port is in use`));
    } finally {
      server.close();
    }
  });
});
