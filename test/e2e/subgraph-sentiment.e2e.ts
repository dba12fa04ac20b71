/**
 * The sentiment subgraph on real PostgreSQL, queried over HTTP as the gateway queries it:
 * root fields, `_entities` for Market and NewsArticle, argument errors, and DataLoader
 * batching counted at the pool.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/server.ts';
import { sentimentSubgraph } from '../../subgraphs/sentiment/index.ts';
import { isolate, testLogger, type Isolation } from '../support/services.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { dataOf, postGraphql, type GraphQLResponse } from '../support/graphql.ts';

/** Every statement sent through `pool.query` since the last reset. */
function recordQueries(pool: pg.Pool): { readonly statements: string[]; reset(): void } {
  const statements: string[] = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const [first] = args;
    statements.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
    return query(...args);
  }) as unknown as typeof pool.query;
  return { statements, reset: () => void (statements.length = 0) };
}

interface ArticleInsert {
  id: string;
  title: string;
  url: string | null;
  source: string;
  publishedAt: string;
}

interface SignalInsert {
  articleId: string;
  coin: string;
  score: number;
  label: 'bullish' | 'neutral' | 'bearish';
  confidence: number;
  reason: string;
  scorer: string;
  promptVersion: string | null;
  createdAt: string;
}

const A1: ArticleInsert = {
  id: 'a1',
  title: 'ETF inflows lift bitcoin, ether follows',
  url: 'https://news.example/etf-inflows',
  source: 'coindesk',
  publishedAt: '2024-05-01T09:00:00.000Z',
};
const A2: ArticleInsert = {
  id: 'a2',
  title: 'Ether gas fees spike',
  url: 'https://news.example/gas',
  source: 'theblock',
  publishedAt: '2024-05-01T10:00:00.000Z',
};
const A3: ArticleInsert = {
  id: 'a3',
  title: 'Exchange maintenance tonight',
  url: null,
  source: 'kraken-blog',
  publishedAt: '2024-05-01T11:00:00.000Z',
};

const S_BTC_LLM: SignalInsert = {
  articleId: 'a1',
  coin: 'BTC',
  score: 0.8,
  label: 'bullish',
  confidence: 0.9,
  reason: 'record ETF inflows',
  scorer: 'llm:gpt-4o-mini',
  promptVersion: 'v2',
  createdAt: '2024-05-01T09:01:00.000Z',
};
const S_BTC_LEX: SignalInsert = {
  ...S_BTC_LLM,
  score: 0.1,
  label: 'neutral',
  confidence: 0.4,
  reason: 'lexicon: lift',
  scorer: 'lexicon',
  promptVersion: null,
  createdAt: '2024-05-01T09:02:00.000Z',
};
const S_ETH_A1: SignalInsert = {
  ...S_BTC_LLM,
  coin: 'ETH',
  score: 0.3,
  reason: 'ether follows',
  createdAt: '2024-05-01T09:01:00.000Z',
};
const S_ETH_A2: SignalInsert = {
  articleId: 'a2',
  coin: 'ETH',
  score: -0.6,
  label: 'bearish',
  confidence: 0.75,
  reason: 'fees hurt usage',
  scorer: 'llm:gpt-4o-mini',
  promptVersion: 'v2',
  createdAt: '2024-05-01T10:05:00.000Z',
};

/** sentiment_features: coin, window, as_of, mean, count, bullish, bearish. */
const FEATURES = [
  ['BTC', '1h', '2024-05-01T10:00:00.000Z', 0.2, 3, 0.33, 0.1],
  ['BTC', '1h', '2024-05-01T11:00:00.000Z', 0.45, 2, 0.5, 0], // newest 1h
  ['BTC', '4h', '2024-05-01T10:00:00.000Z', -0.25, 8, 0.25, 0.5],
  ['ETH', '1h', '2024-05-01T11:00:00.000Z', 0, 0, 0, 0], // no article: null
  ['ETH', '24h', '2024-05-01T11:00:00.000Z', -0.1, 5, 0.2, 0.4],
  ['ETH', '24h', '2024-05-01T09:00:00.000Z', 0.9, 1, 1, 0],
] as const;

const summary = (i: number, window: 'H1' | 'H4' | 'H24') => {
  const f = FEATURES[i];
  assert.ok(f);
  return {
    coin: f[0],
    window,
    asOf: f[2],
    meanScore: f[3],
    count: f[4],
    bullishRatio: f[5],
    bearishRatio: f[6],
  };
};

const SIGNAL_FIELDS = 'coin score label confidence reason scorer promptVersion createdAt article { id }';

const signal = (s: SignalInsert) => ({
  coin: s.coin,
  score: s.score,
  label: s.label.toUpperCase(),
  confidence: s.confidence,
  reason: s.reason,
  scorer: s.scorer,
  promptVersion: s.promptVersion,
  createdAt: s.createdAt,
  article: { id: s.articleId },
});

const ARTICLE_FIELDS = `id title url source publishedAt signals { ${SIGNAL_FIELDS} }`;

const article = (a: ArticleInsert, signals: SignalInsert[]) => ({
  id: a.id,
  title: a.title,
  url: a.url,
  source: a.source,
  publishedAt: a.publishedAt,
  signals: signals.map(signal),
});

// Signals of each article as the API orders them: newest first, then coin, then scorer.
const A1_SIGNALS = [S_BTC_LEX, S_BTC_LLM, S_ETH_A1];
const A2_SIGNALS = [S_ETH_A2];

const CAP_COIN = 'CAP';
const CAP_ROWS = 1003;

describe('sentiment subgraph', () => {
  let iso: Isolation;
  let server: RunningSubgraph;
  let queries: ReturnType<typeof recordQueries>;

  const gql = <T>(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse<T>> =>
    postGraphql<T>(server.url, query, variables, { status: 200 });

  /** The data of a response that must have no errors. */
  const data = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> =>
    dataOf(await gql<T>(query, variables));

  before(async () => {
    iso = await isolate('sentiment');
    for (const a of [A1, A2, A3]) {
      await iso.pool.query(
        `INSERT INTO news_articles (id, title, url, source, published_at, content_hash) VALUES ($1, $2, $3, $4, $5, $6)`,
        [a.id, a.title, a.url, a.source, a.publishedAt, `hash-${a.id}`],
      );
    }
    for (const s of [S_BTC_LLM, S_BTC_LEX, S_ETH_A1, S_ETH_A2]) {
      await iso.pool.query(
        `INSERT INTO sentiment_signals (article_id, coin, score, label, confidence, reason, scorer, prompt_version,
           created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [s.articleId, s.coin, s.score, s.label, s.confidence, s.reason, s.scorer, s.promptVersion, s.createdAt],
      );
    }
    for (const f of FEATURES) {
      await iso.pool.query(
        `INSERT INTO sentiment_features (coin, window_name, as_of, mean_score, count, bullish_ratio, bearish_ratio)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [...f],
      );
    }
    // CAP: many old articles with one signal each, to check the cap on `first`.
    await iso.pool.query(
      `INSERT INTO news_articles (id, title, source, published_at, content_hash)
       SELECT 'cap-' || g, 'cap ' || g, 'bulk', timestamptz '2020-01-01' + g * interval '1 minute', 'h' || g
         FROM generate_series(1, $1::int) g`,
      [CAP_ROWS],
    );
    await iso.pool.query(
      `INSERT INTO sentiment_signals (article_id, coin, score, label, confidence, reason, scorer, created_at)
       SELECT 'cap-' || g, $2, 0, 'neutral', 0.5, 'bulk', 'lexicon', timestamptz '2020-01-01' + g * interval '1 minute'
         FROM generate_series(1, $1::int) g`,
      [CAP_ROWS, CAP_COIN],
    );
    queries = recordQueries(iso.pool);
    server = await startSubgraph(sentimentSubgraph, {
      pool: iso.pool,
      bus: new MemoryBus(),
      logger: testLogger,
      port: 0,
      host: '127.0.0.1',
    });
  });

  after(async () => {
    await server?.stop();
    await iso?.close();
  });

  describe('Market.sentiment', () => {
    it('reads the newest features row of the base coin per window, null where there is none, in one query', async () => {
      queries.reset();
      const result = await data<{ _entities: unknown[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Market {
           pair
           h1: sentiment { coin window meanScore count bullishRatio bearishRatio asOf }
           h4: sentiment(window: H4) { coin window meanScore count bullishRatio bearishRatio asOf }
           h24: sentiment(window: H24) { coin window meanScore count bullishRatio bearishRatio asOf }
         } } }`,
        {
          r: ['BTC/USD', 'ETH/USD', 'ETH/EUR', 'SOL/USD', 'BTCUSD'].map((pair) => ({ __typename: 'Market', pair })),
        },
      );
      assert.deepEqual(result._entities, [
        { pair: 'BTC/USD', h1: summary(1, 'H1'), h4: summary(2, 'H4'), h24: null },
        // ETH's newest 1h row counted no article: null, not a mean of nothing.
        { pair: 'ETH/USD', h1: null, h4: null, h24: summary(4, 'H24') },
        { pair: 'ETH/EUR', h1: null, h4: null, h24: summary(4, 'H24') },
        { pair: 'SOL/USD', h1: null, h4: null, h24: null },
        { pair: 'BTCUSD', h1: null, h4: null, h24: null },
      ]);
      assert.equal(queries.statements.length, 1, queries.statements.join('\n---\n'));
    });
  });

  describe('NewsArticle entities', () => {
    it('resolves representations in order with their signals, null for an unknown id, in two queries', async () => {
      queries.reset();
      const result = await data<{ _entities: unknown[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on NewsArticle { ${ARTICLE_FIELDS} } } }`,
        {
          r: ['a2', 'missing', 'a1', 'a3'].map((id) => ({ __typename: 'NewsArticle', id })),
        },
      );
      assert.deepEqual(result._entities, [article(A2, A2_SIGNALS), null, article(A1, A1_SIGNALS), article(A3, [])]);
      // One for the articles, one for the signals of all of them.
      assert.equal(queries.statements.length, 2, queries.statements.join('\n---\n'));
    });
  });

  describe('Query.newsArticles', () => {
    it('lists articles newest first, all or those with a signal for the coin', async () => {
      const result = await data<Record<string, unknown>>(
        `{
           all: newsArticles(first: 3) { ${ARTICLE_FIELDS} }
           btc: newsArticles(coin: "BTC") { id }
           eth: newsArticles(coin: "ETH") { id }
           one: newsArticles(coin: "ETH", first: 1) { id }
           zero: newsArticles(first: 0) { id }
           none: newsArticles(coin: "DOGE") { id }
         }`,
      );
      assert.deepEqual(result, {
        all: [article(A3, []), article(A2, A2_SIGNALS), article(A1, A1_SIGNALS)],
        btc: [{ id: 'a1' }],
        eth: [{ id: 'a2' }, { id: 'a1' }],
        one: [{ id: 'a2' }],
        zero: [],
        none: [],
      });
    });

    it('returns 20 articles by default and caps first at 1000', async () => {
      const result = await data<{ byDefault: { id: string }[]; capped: { id: string }[] }>(
        `{ byDefault: newsArticles(coin: "${CAP_COIN}") { id } capped: newsArticles(coin: "${CAP_COIN}", first: 5000) { id } }`,
      );
      assert.deepEqual(
        result.byDefault.map((a) => a.id),
        Array.from({ length: 20 }, (_, i) => `cap-${CAP_ROWS - i}`),
      );
      assert.deepEqual(
        result.capped.map((a) => a.id),
        Array.from({ length: 1000 }, (_, i) => `cap-${CAP_ROWS - i}`),
      );
    });

    it('rejects a negative first with BAD_USER_INPUT', async () => {
      const result = await gql(`{ newsArticles(first: -1) { id } }`);
      assert.equal(result.errors?.length, 1, JSON.stringify(result.errors));
      assert.equal(result.errors[0]?.extensions?.code, 'BAD_USER_INPUT');
      assert.match(result.errors[0]?.message ?? '', /first/);
      assert.equal(result.data, null);
    });
  });

  describe('Query.sentimentSignals', () => {
    it("lists a coin's signals newest first with their articles", async () => {
      const result = await data<Record<string, unknown>>(
        `{
           eth: sentimentSignals(coin: "ETH") { ${SIGNAL_FIELDS} article { title url source publishedAt } }
           btc: sentimentSignals(coin: "BTC", first: 1) { ${SIGNAL_FIELDS} }
           none: sentimentSignals(coin: "DOGE") { coin }
         }`,
      );
      const withArticle = (s: SignalInsert, a: ArticleInsert) => ({
        ...signal(s),
        article: { id: a.id, title: a.title, url: a.url, source: a.source, publishedAt: a.publishedAt },
      });
      assert.deepEqual(result, {
        eth: [withArticle(S_ETH_A2, A2), withArticle(S_ETH_A1, A1)],
        btc: [signal(S_BTC_LEX)],
        none: [],
      });
    });

    it('loads the articles of all listed signals with one query', async () => {
      queries.reset();
      const result = await data<{ sentimentSignals: { article: { id: string; title: string } }[] }>(
        `{ sentimentSignals(coin: "${CAP_COIN}", first: 30) { article { id title } } }`,
      );
      assert.deepEqual(
        result.sentimentSignals.map((s) => s.article),
        Array.from({ length: 30 }, (_, i) => ({ id: `cap-${CAP_ROWS - i}`, title: `cap ${CAP_ROWS - i}` })),
      );
      // The signals, then one batch for their 30 articles.
      assert.equal(queries.statements.length, 2, queries.statements.join('\n---\n'));
    });

    it('returns 50 signals by default and caps first at 1000', async () => {
      const result = await data<{ byDefault: { article: { id: string } }[]; capped: { article: { id: string } }[] }>(
        `{ byDefault: sentimentSignals(coin: "${CAP_COIN}") { article { id } }
           capped: sentimentSignals(coin: "${CAP_COIN}", first: 1001) { article { id } } }`,
      );
      assert.deepEqual(
        result.byDefault.map((s) => s.article.id),
        Array.from({ length: 50 }, (_, i) => `cap-${CAP_ROWS - i}`),
      );
      assert.deepEqual(
        result.capped.map((s) => s.article.id),
        Array.from({ length: 1000 }, (_, i) => `cap-${CAP_ROWS - i}`),
      );
    });

    it('rejects a negative first with BAD_USER_INPUT', async () => {
      const result = await gql(`{ sentimentSignals(coin: "BTC", first: -5) { coin } }`);
      assert.equal(result.errors?.length, 1, JSON.stringify(result.errors));
      assert.equal(result.errors[0]?.extensions?.code, 'BAD_USER_INPUT');
      assert.equal(result.data, null);
    });
  });
});
