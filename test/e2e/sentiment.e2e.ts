/**
 * The news → sentiment pipeline on the real services: one real day of headlines (the
 * LUNA/UST collapse, 2022-05-12 UTC) replayed through real Kafka by the news source,
 * scored by the extractor, aggregated by the features processor and written to
 * PostgreSQL by the sentiment writer, then read through the gateway. The expectations are
 * fixed here, not computed with tickcast's own scorer: the day's counts, and the exact score
 * of every LUNA signal and a few others, summed by hand from the lexicon's weights; the
 * rolling windows are recomputed here from the stored signals with plain arithmetic. A
 * malformed news record is dead-lettered on the way; a restart followed by a second replay
 * scores nothing again.
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
import { deadLetterSchema, type NewsItem } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { metricValue } from '../../lib/metrics.ts';
import { sentimentAt, sentimentAtFromStore, sentimentFromStore, type SentimentRow } from '../../training/sentiment.ts';
import { NEWS, requireData } from '../support/data.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const DAY = { from: Date.UTC(2022, 4, 12), to: Date.UTC(2022, 4, 13) };
const PROCESSORS: ProcessorName[] = ['sentiment-extractor', 'sentiment-features', 'sentiment-writer'];

/**
 * The day in the file: 67 rows dated 12-5-2022, one of them (11:00) without a title, so 66
 * articles; 81 signals over 11 coins, of them BTC 28, ETH 16 and LUNA 14 (the coins the
 * tagger finds in the day's headlines, read through once by hand).
 */
const DAY_ARTICLES = 66;
const DAY_SIGNALS = 81;
const SIGNALS_OF: Readonly<Record<string, number>> = { BTC: 28, ETH: 16, LUNA: 14 };

/** The lexicon's squashing of a summed weight into (-1, 1) (streams/sentiment/lexicon.ts). */
const squash = (raw: number): number => raw / (Math.abs(raw) + 2);
/** Labels at ±0.2 (streams/sentiment/scorer.ts LABEL_THRESHOLD). */
const labelOf = (score: number): string => (score >= 0.2 ? 'bullish' : score <= -0.2 ? 'bearish' : 'neutral');

interface Pinned {
  /** The start of the headline, enough to pick one article of the day. */
  readonly title: string;
  readonly coin: string;
  /** Sum of the lexicon weights in the sentences about the coin, counted by hand. */
  readonly raw: number;
  readonly reason?: string;
}

/** Every LUNA headline of the collapse day, with the words that weigh and their weights. */
const LUNA: readonly Pinned[] = [
  { title: 'Bitcoin Below USD 29K, Ethereum Dives More, LUNA', coin: 'LUNA', raw: -2 }, // crash
  { title: 'Gemini Denies 100k Bitcoin Loan Rumors', coin: 'LUNA', raw: -1 }, // dump
  { title: 'Terra to burn $1.4B UST', coin: 'LUNA', raw: -1 }, // bleeding
  { title: 'USDT-dollar peg wobbles', coin: 'LUNA', raw: 0 }, // "debacle" is not in the lexicon
  { title: 'Binance Futures delists coin-margined LUNA', coin: 'LUNA', raw: -2 }, // delists
  { title: 'LUNA Dives Below USD 0.05', coin: 'LUNA', raw: -2 }, // lower, lower
  { title: 'Tether (USDT) Loses Peg', coin: 'LUNA', raw: -1 }, // lost (the sentence on Terra's UST)
  { title: 'Bitcoin, Ethereum, and Altcoins Try to Trim Losses, LUNA', coin: 'LUNA', raw: -3 }, // losses, lows, declined
  { title: '$1M LUNA 3 Days Ago', coin: 'LUNA', raw: -3 }, // crashes, loses
  {
    title: 'Breaking: Terra blockchain officially halted',
    coin: 'LUNA',
    raw: -6, // halted, collapse, halt, plunged
    reason: 'Lexicon words about LUNA: negative "halted", "collapse", "halt", "plunged".',
  },
  { title: 'Terra Blockchain Officially Halted', coin: 'LUNA', raw: -2 }, // halted, fear
  { title: 'Bitcoin could target $32K', coin: 'LUNA', raw: -2 }, // crashes
  { title: 'Terra’s Do Kwon 8 Days Ago', coin: 'LUNA', raw: 0, reason: 'No sentiment-bearing words about LUNA.' },
  { title: 'TFL Proposes Emergency Response', coin: 'LUNA', raw: -2 }, // collapse
];

/** Other coins: bullish, mixed, and one article read differently per coin. */
const OTHERS: readonly Pinned[] = [
  { title: 'Bitcoin Below USD 29K, Ethereum Dives More, LUNA', coin: 'BTC', raw: -2 }, // crash
  { title: 'Bitcoin Below USD 29K, Ethereum Dives More, LUNA', coin: 'ETH', raw: -4 }, // crash, declined, down
  {
    title: "Brazil's Biggest Neobank Makes Bitcoin Investment",
    coin: 'BTC',
    raw: 4, // investment, buy, invest, buy
    reason: 'Lexicon words about BTC: positive "investment", "buy", "invest", "buy".',
  },
  { title: 'Shanghai court affirms that Bitcoin', coin: 'BTC', raw: 1 }, // legal
  { title: 'Bitcoin Dominance Rises as ETH/BTC Breaks Down', coin: 'BTC', raw: -1 }, // rises; down, lower
];

/** The day's articles as the news source reads them from the file (no scoring). */
async function dayItems(): Promise<NewsItem[]> {
  const { rows } = await loadHeadlines(requireData(NEWS));
  const seen = new SeenArticles();
  return rows
    .filter((r) => r.publishedAt >= DAY.from && r.publishedAt < DAY.to && r.title.trim() !== '')
    .map(headlineItem)
    .filter((item) => seen.firstSighting(item));
}

interface StoredSignal {
  article_id: string;
  title: string;
  published_at: Date;
  coin: string;
  score: number;
  label: string;
  reason: string;
  scorer: string;
  prompt_version: string | null;
}

async function storedSignals(iso: Isolation, coin?: string): Promise<StoredSignal[]> {
  const { rows } = await iso.pool.query<StoredSignal>(
    `SELECT s.article_id, a.title, a.published_at, s.coin, s.score, s.label, s.reason, s.scorer, s.prompt_version
       FROM sentiment_signals s JOIN news_articles a ON a.id = s.article_id
      WHERE $1::text IS NULL OR s.coin = $1 ORDER BY a.published_at, s.article_id`,
    [coin ?? null],
  );
  return rows;
}

/** The one stored signal of `pinned.coin` on the article whose title starts with `pinned.title`. */
function find(signals: readonly StoredSignal[], pinned: Pinned): StoredSignal {
  const found = signals.filter((s) => s.coin === pinned.coin && s.title.startsWith(pinned.title));
  assert.equal(found.length, 1, `${pinned.coin} on "${pinned.title}…"`);
  return found[0]!;
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
  let items: NewsItem[];
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
    items = await dayItems();
    assert.equal(items.length, DAY_ARTICLES);
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
        (await count(iso, 'news_articles')) === DAY_ARTICLES && (await count(iso, 'sentiment_signals')) === DAY_SIGNALS,
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

  it('stores every article of the day once, and the signals with the scores counted by hand', async () => {
    const articles = await iso.pool.query<{ id: string }>('SELECT id FROM news_articles ORDER BY id');
    assert.deepEqual(
      articles.rows.map((r) => r.id),
      items.map((i) => i.id).sort(),
    );
    const signals = await storedSignals(iso);
    assert.equal(signals.length, DAY_SIGNALS);
    for (const [coin, n] of Object.entries(SIGNALS_OF)) {
      assert.equal(signals.filter((s) => s.coin === coin).length, n, `${coin} signals`);
    }
    for (const s of signals) {
      // Every score is a whole summed weight squashed, labelled by its threshold, by the lexicon.
      const raw = (2 * s.score) / (1 - Math.abs(s.score));
      assert.ok(Math.abs(raw - Math.round(raw)) < 1e-9, `${s.coin} score ${s.score} on "${s.title}"`);
      assert.deepEqual([s.label, s.scorer, s.prompt_version], [labelOf(s.score), 'lexicon:v1', null]);
    }
    for (const pinned of [...LUNA, ...OTHERS]) {
      const s = find(signals, pinned);
      const score = squash(pinned.raw);
      assert.deepEqual([s.score, s.label], [score, labelOf(score)], `${pinned.coin} on "${s.title}"`);
      if (pinned.reason !== undefined) assert.equal(s.reason, pinned.reason);
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

  it("serves each market's rolling sentiment through the gateway, equal to the windows recomputed here from the stored signals", async () => {
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
      const signals = await storedSignals(iso, coin);
      assert.equal(signals.length, SIGNALS_OF[coin]);
      const asOf = Math.max(...signals.map((s) => s.published_at.getTime()));
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
      // Each window ends at the coin's newest article (inclusive) and reaches back its length (exclusive).
      for (const [field, hours] of [
        ['h1', 1],
        ['h4', 4],
        ['h24', 24],
      ] as const) {
        const inWindow = signals.filter((s) => s.published_at.getTime() > asOf - hours * 3_600_000);
        const share = (label: string): number => inWindow.filter((s) => s.label === label).length / inWindow.length;
        const served = data.market[field];
        assert.ok(served, `${pair} ${field} sentiment`);
        assert.equal(served.count, inWindow.length, `${pair} ${field} count`);
        assert.equal(served.asOf, new Date(asOf).toISOString());
        const mean = inWindow.reduce((sum, s) => sum + s.score, 0) / inWindow.length;
        assert.ok(Math.abs(served.meanScore - mean) < 1e-12, `${pair} ${field} mean ${served.meanScore} vs ${mean}`);
        assert.ok(Math.abs(served.bullishRatio - share('bullish')) < 1e-12, `${pair} ${field} bullish`);
        assert.ok(Math.abs(served.bearishRatio - share('bearish')) < 1e-12, `${pair} ${field} bearish`);
      }
    }
    // LUNA's whole day from the hand-counted scores alone: 12 bearish, 2 neutral, none bullish.
    const luna = await graphql<{ market: { sentiment: { meanScore: number; count: number; bearishRatio: number } } }>(`
      {
        market(pair: "LUNA/USD") {
          sentiment(window: H24) {
            meanScore
            count
            bearishRatio
            bullishRatio
          }
        }
      }
    `);
    const lunaMean = LUNA.reduce((sum, p) => sum + squash(p.raw), 0) / LUNA.length;
    assert.equal(luna.market.sentiment.count, 14);
    assert.ok(Math.abs(luna.market.sentiment.meanScore - lunaMean) < 1e-12, `${luna.market.sentiment.meanScore}`);
    assert.equal(luna.market.sentiment.bearishRatio, 12 / 14);
  });

  it('serves signals with their articles through the gateway', async () => {
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
    assert.equal(data.sentimentSignals.length, LUNA.length);
    const titles = new Map(items.map((i) => [i.id, i.title]));
    for (const s of data.sentimentSignals) assert.equal(s.article.title, titles.get(s.article.id));
    const served = data.sentimentSignals.map((s) => ({ ...s.article, coin: 'LUNA', score: s.score }));
    for (const pinned of LUNA) {
      const s = served.filter((x) => x.title.startsWith(pinned.title));
      assert.equal(s.length, 1, `LUNA on "${pinned.title}…"`);
      assert.equal(s[0]?.score, squash(pinned.raw), `LUNA on "${pinned.title}…"`);
    }
  });

  it('pushes every LUNA signal live through the sentimentSignal subscription, with its article', async () => {
    await waitFor('every LUNA signal pushed', async () => lunaEvents.length >= LUNA.length, 30_000).catch(() => {});
    assert.ok(lunaEvents.every((e) => e.errors === undefined));
    const titles = new Map(items.map((i) => [i.id, i.title]));
    const received = lunaEvents.map((e) => e.data!.sentimentSignal);
    assert.equal(received.length, LUNA.length, 'each LUNA signal once, no other coin');
    for (const s of received) {
      assert.equal(s.coin, 'LUNA');
      assert.equal(s.scorer, 'lexicon:v1');
      assert.equal(s.article.title, titles.get(s.article.id));
    }
    for (const pinned of LUNA) {
      const pushed = received.filter((s) => s.article.title.startsWith(pinned.title));
      assert.equal(pushed.length, 1, `LUNA on "${pinned.title}…" pushed once`);
      assert.deepEqual(
        [pushed[0]?.score, pushed[0]?.label.toLowerCase()],
        [squash(pinned.raw), labelOf(squash(pinned.raw))],
      );
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
        DAY_ARTICLES,
      120_000,
    );
    const afterRestart = await iso.pool.query<{ k: string; created_at: Date }>(
      `SELECT article_id || '|' || coin AS k, created_at FROM sentiment_signals ORDER BY 1`,
    );
    assert.deepEqual(afterRestart.rows, before.rows);
  });
});
