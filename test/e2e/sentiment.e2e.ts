/**
 * The news → sentiment pipeline on the real services: one real day of headlines (the
 * LUNA/UST collapse, 2022-05-12 UTC) replayed through real Kafka by the news source,
 * scored by the extractor, aggregated by the features processor and written to
 * PostgreSQL by the sentiment writer, then read through the gateway and checked value by
 * value against the scores computed here from the same file. A malformed news record is
 * dead-lettered on the way; a restart followed by a second replay scores nothing again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startApi, type RunningApi } from '../../cli/api.ts';
import type { Bus, InboundRecord, RunningTask } from '../../streams/bus/bus.ts';
import { createBus, type ProcessorName } from '../../streams/runtime.ts';
import { startProcessors } from '../support/pipeline.ts';
import { newsSink } from '../../streams/news/from-config.ts';
import { SeenArticles } from '../../streams/news/dedupe.ts';
import { loadHeadlines } from '../../streams/news/headlines-csv.ts';
import { HeadlineReplaySource, headlineItem } from '../../streams/news/replay.ts';
import { tagCoins } from '../../streams/sentiment/coins.ts';
import { LexiconScorer } from '../../streams/sentiment/lexicon.ts';
import { addSignal, initialCoinWindowState, windowFeatures } from '../../streams/sentiment/rolling.ts';
import { deadLetterSchema, type NewsItem, type SentimentSignal } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { metricValue } from '../../lib/metrics.ts';
import { sentimentAt, sentimentAtFromStore, sentimentFromStore, type SentimentRow } from '../../training/sentiment.ts';
import { NEWS, requireData } from '../support/data.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const DAY = { from: Date.UTC(2022, 4, 12), to: Date.UTC(2022, 4, 13) };
const PROCESSORS: ProcessorName[] = ['sentiment-extractor', 'sentiment-features', 'sentiment-writer'];

interface Expected {
  items: NewsItem[];
  signals: Map<string, { coin: string; score: number; label: string; reason: string }>;
}

/** What the pipeline must produce, computed here from the file with the same pure functions. */
async function expected(): Promise<Expected> {
  const { rows } = await loadHeadlines(requireData(NEWS));
  const seen = new SeenArticles();
  const items = rows
    .filter((r) => r.publishedAt >= DAY.from && r.publishedAt < DAY.to && r.title.trim() !== '')
    .map(headlineItem)
    .filter((item) => seen.firstSighting(item));
  const scorer = new LexiconScorer();
  const signals = new Map<string, { coin: string; score: number; label: string; reason: string }>();
  for (const item of items) {
    const { scores } = await scorer.score(item, tagCoins(item.title, item.text));
    for (const s of scores) signals.set(`${item.id}|${s.coin}`, s);
  }
  return { items, signals };
}

const startSentiment = (iso: Isolation, bus: Bus): Promise<RunningTask[]> => startProcessors(iso, bus, PROCESSORS);

async function replayDay(iso: Isolation, bus: Bus): Promise<void> {
  const source = new HeadlineReplaySource({
    path: NEWS,
    from: DAY.from,
    to: DAY.to,
    batchSize: 25,
    logger: testLogger,
  });
  await source.start(newsSink(bus, iso.config.EVENT_MAX_AHEAD_MS), new AbortController().signal);
}

async function count(iso: Isolation, table: string): Promise<number> {
  return Number((await iso.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
}

describe('news → sentiment through real Kafka and PostgreSQL, read through the gateway', () => {
  let iso: Isolation;
  let bus: Bus;
  let tasks: RunningTask[] = [];
  let api: RunningApi;
  let want: Expected;
  let graphql: <T>(query: string) => Promise<T>;
  let lunaLive: Client;
  const lunaEvents: {
    data?: {
      sentimentSignal: {
        coin: string;
        score: number;
        label: string;
        scorer: string;
        article: { id: string; title: string };
      };
    };
    errors?: unknown;
  }[] = [];

  before(async () => {
    iso = await isolate('sentiment', {
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      // Configured pairs are markets without candles, so Market.sentiment can be asked of them.
      PAIRS: 'BTC/USD,ETH/USD,LUNA/USD',
    });
    want = await expected();
    assert.ok(want.items.length > 40 && want.signals.size > 30, 'the slice is a real day of news');
    bus = await createBus(iso.config, testLogger);
    tasks = await startSentiment(iso, bus);
    // The API on the same bus before the news flows: a client follows LUNA's signals live.
    api = await startApi(iso.config, { pool: iso.pool, bus, logger: testLogger });
    lunaLive = createClient({
      url: api.gateway.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': api.sessionKey ?? '' },
    });
    lunaLive.subscribe(
      { query: 'subscription { sentimentSignal(coin: "luna") { coin score label scorer article { id title } } }' },
      {
        next: (event) => lunaEvents.push(event as (typeof lunaEvents)[number]),
        error: (error) => assert.fail(`sentimentSignal failed: ${JSON.stringify(error)}`),
        complete: () => {},
      },
    );
    await waitFor(
      'the live subscription',
      async () => (await metricValue('tickcast_gateway_subscriptions_active')) >= 1,
      30_000,
    );
    await bus.publish([{ topic: TOPICS.news.name, key: 'broken', value: { v: 1, id: 'broken', title: '' } }]);
    await replayDay(iso, bus);
    await waitFor(
      'every article and signal in PostgreSQL',
      async () =>
        (await count(iso, 'news_articles')) === want.items.length &&
        (await count(iso, 'sentiment_signals')) === want.signals.size,
      120_000,
    );
    graphql = async <T>(query: string): Promise<T> => {
      const res = await fetch(api.gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': api.sessionKey ?? '' },
        body: JSON.stringify({ query }),
      });
      const body = (await res.json()) as { data?: T; errors?: unknown[] };
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return body.data as T;
    };
  });

  after(async () => {
    await lunaLive?.dispose();
    await api?.gateway.stop();
    for (const s of api?.subgraphs ?? []) await s.stop();
    for (const t of tasks) await t.stop();
    await bus?.close();
    await iso?.close();
  });

  it('stores every article of the day once, and one signal per tagged coin with the scorer that made it', async () => {
    const articles = await iso.pool.query<{ id: string }>('SELECT id FROM news_articles ORDER BY id');
    assert.deepEqual(
      articles.rows.map((r) => r.id),
      want.items.map((i) => i.id).sort(),
    );
    const { rows } = await iso.pool.query<{
      article_id: string;
      coin: string;
      score: number;
      label: string;
      reason: string;
      scorer: string;
      prompt_version: string | null;
    }>('SELECT article_id, coin, score, label, reason, scorer, prompt_version FROM sentiment_signals');
    assert.equal(rows.length, want.signals.size);
    for (const row of rows) {
      const w = want.signals.get(`${row.article_id}|${row.coin}`);
      assert.ok(w, `unexpected signal ${row.article_id}|${row.coin}`);
      assert.deepEqual(
        [row.score, row.label, row.reason, row.scorer, row.prompt_version],
        [w.score, w.label.toLowerCase(), w.reason, 'lexicon:v1', null],
      );
    }
  });

  it('dead-letters the malformed news item in both processors that read the news topic', async () => {
    const letters: InboundRecord[] = [];
    const reader = await bus.consume({
      groupId: 'dead-letter-check',
      topics: [TOPICS.deadLetters.name],
      fromBeginning: true,
      handler: async (records) => void letters.push(...records),
    });
    await waitFor('both dead letters', async () => letters.length >= 2, 30_000);
    await reader.stop();
    const parsed = letters.map((l) => deadLetterSchema.parse(JSON.parse(l.value!.toString('utf8'))));
    assert.deepEqual(parsed.map((l) => [l.processor, l.code, l.key]).sort(), [
      ['sentiment-extractor', 'INVALID_EVENT', 'broken'],
      ['sentiment-writer', 'INVALID_EVENT', 'broken'],
    ]);
  });

  it("serves each market's rolling sentiment through the gateway, equal to the features computed from the signals", async () => {
    await waitFor(
      'features at the newest article of each coin',
      async () => {
        const { rows } = await iso.pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM sentiment_features WHERE as_of >= $1`,
          [new Date(DAY.from)],
        );
        return Number(rows[0]?.n) > 0;
      },
      60_000,
    );
    for (const coin of ['BTC', 'ETH', 'LUNA']) {
      const state = initialCoinWindowState();
      const signals = want.items
        .flatMap((item) => {
          const s = want.signals.get(`${item.id}|${coin}`);
          return s ? [{ ...s, articleId: item.id, publishedAt: item.publishedAt }] : [];
        })
        .sort((a, b) => a.publishedAt - b.publishedAt);
      for (const s of signals) addSignal(state, s as unknown as SentimentSignal);
      const features = windowFeatures(state, coin);
      const pair = `${coin}/USD`;
      await waitFor(
        `${coin} 24h feature at its newest article`,
        async () => {
          const { rows } = await iso.pool.query<{ count: number }>(
            `SELECT count FROM sentiment_features WHERE coin = $1 AND window_name = '24h' ORDER BY as_of DESC LIMIT 1`,
            [coin],
          );
          return rows[0]?.count === signals.length;
        },
        60_000,
      );
      const data = await graphql<{
        market: Record<
          string,
          { meanScore: number; count: number; bullishRatio: number; bearishRatio: number; asOf: string } | null
        >;
      }>(
        `{ market(pair: "${pair}") { h1: sentiment(window: H1) { ...s } h4: sentiment(window: H4) { ...s } h24: sentiment(window: H24) { ...s } } }
         fragment s on SentimentSummary { meanScore count bullishRatio bearishRatio asOf }`,
      );
      for (const f of features) {
        const served = data.market[{ '1h': 'h1', '4h': 'h4', '24h': 'h24' }[f.window]];
        assert.ok(served, `${pair} ${f.window} sentiment`);
        assert.equal(served.count, f.count, `${pair} ${f.window} count`);
        assert.equal(served.asOf, new Date(f.asOf).toISOString());
        assert.ok(Math.abs(served.meanScore - f.meanScore) < 1e-12, `${pair} ${f.window} mean`);
        assert.ok(Math.abs(served.bullishRatio - f.bullishRatio) < 1e-12);
        assert.ok(Math.abs(served.bearishRatio - f.bearishRatio) < 1e-12);
      }
    }
  });

  it('serves signals with their articles through the gateway', async () => {
    const luna = [...want.signals.entries()].filter(([key]) => key.endsWith('|LUNA'));
    const data = await graphql<{
      sentimentSignals: { score: number; label: string; scorer: string; article: { id: string; title: string } }[];
    }>(`
      {
        sentimentSignals(coin: "LUNA", first: 500) {
          score
          label
          scorer
          article {
            id
            title
          }
        }
      }
    `);
    assert.equal(data.sentimentSignals.length, luna.length);
    const titles = new Map(want.items.map((i) => [i.id, i.title]));
    for (const s of data.sentimentSignals) {
      assert.equal(s.article.title, titles.get(s.article.id));
      assert.equal(s.score, want.signals.get(`${s.article.id}|LUNA`)?.score);
    }
  });

  it('pushes every LUNA signal live through the sentimentSignal subscription, with its article', async () => {
    const luna = [...want.signals.entries()].filter(([key]) => key.endsWith('|LUNA'));
    await waitFor('every LUNA signal pushed', async () => lunaEvents.length >= luna.length, 30_000).catch(() => {});
    assert.ok(lunaEvents.every((e) => e.errors === undefined));
    const titles = new Map(want.items.map((i) => [i.id, i.title]));
    const received = lunaEvents.map((e) => e.data!.sentimentSignal);
    assert.deepEqual(
      received.map((s) => s.article.id).sort(),
      luna.map(([key]) => key.split('|')[0]).sort(),
      'each LUNA signal once, no other coin',
    );
    for (const s of received) {
      assert.equal(s.coin, 'LUNA');
      assert.equal(s.scorer, 'lexicon:v1');
      assert.equal(s.article.title, titles.get(s.article.id));
      assert.equal(s.score, want.signals.get(`${s.article.id}|LUNA`)?.score);
    }
  });

  it('gives the predictor the same sentiment inputs from the store as training builds', async () => {
    const byWindow = new Map<'1h' | '4h' | '24h', SentimentRow[]>([
      ['1h', []],
      ['4h', []],
      ['24h', []],
    ]);
    const rows = await sentimentFromStore(iso.pool, 'LUNA');
    for (const row of rows) byWindow.get(row.window)?.push(row);
    // How many rows there are depends on how the features processor's batches fell.
    assert.ok((byWindow.get('1h')?.length ?? 0) > 0, 'LUNA has sentiment rows');
    const hourly = Array.from({ length: 8 }, (_, i) => DAY.from + i * 3 * 3_600_000 + 17 * 60_000);
    // Each row's own minute (the row counts) and the minute before (it does not yet).
    const atRows = rows.flatMap((row) => [row.asOf, row.asOf - 60_000]);
    for (const openTime of [...hourly, ...atRows]) {
      assert.deepEqual(await sentimentAtFromStore(iso.pool, 'LUNA', openTime), sentimentAt(byWindow, openTime));
    }
  });

  it('after a restart, the same articles replayed again are not scored again', async () => {
    const before = await iso.pool.query<{ k: string; created_at: Date }>(
      `SELECT article_id || '|' || coin AS k, created_at FROM sentiment_signals ORDER BY 1`,
    );
    for (const t of tasks) await t.stop();
    tasks = await startSentiment(iso, bus);
    const duplicates = await metricValue('tickcast_sentiment_articles_total', { outcome: 'duplicate' });
    await replayDay(iso, bus);
    await waitFor(
      'every replayed article recognised as already scored',
      async () =>
        (await metricValue('tickcast_sentiment_articles_total', { outcome: 'duplicate' })) - duplicates ===
        want.items.length,
      120_000,
    );
    const afterRestart = await iso.pool.query<{ k: string; created_at: Date }>(
      `SELECT article_id || '|' || coin AS k, created_at FROM sentiment_signals ORDER BY 1`,
    );
    assert.deepEqual(afterRestart.rows, before.rows);
  });
});
