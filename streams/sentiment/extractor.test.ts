/**
 * The extractor, with the LLM scorer behind its breaker, against a local OpenAI-compatible
 * server running in its own process: every scripted answer (well-formed, malformed,
 * off-schema, partial, truncated, refused, slow, failing) ends in a valid signal or a
 * counted failure, garbage never becomes a score, an unusable answer is scored by the
 * (named) lexicon, and an unavailable LLM holds the article until it is back, or beyond
 * LLM_MAX_OUTAGE_MS fails the batch and the process. Batches go through the same
 * applyBatch both buses use.
 */
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { applyBatch } from '../bus/batch.ts';
import type { InboundRecord, OutboundRecord } from '../bus/bus.ts';
import { encodeValue } from '../bus/codec.ts';
import { toNewsItem } from '../news/article.ts';
import { CircuitBreaker } from './breaker.ts';
import { sentimentExtractor, type ExtractorState } from './extractor.ts';
import { LexiconScorer } from './lexicon.ts';
import { LlmScorer } from './llm.ts';
import { loadPrompt } from './prompt.ts';
import { ResilientScorer } from './resilient.ts';
import { deadLetterSchema, sentimentSignalSchema, type NewsItem, type SentimentSignal } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { createLogger } from '../../lib/logger.ts';
import { DependencyHealth, DependencyOutageError, readiness } from '../../lib/dependencies.ts';
import { TickcastError } from '../../lib/errors.ts';
import { metricValue } from '../../lib/metrics.ts';
import { startOpenAiFake, type OpenAiFake } from '../../test/support/openai-fake.ts';
import type { Behaviour } from '../../test/fakes/openai-server.ts';

const logger = createLogger('silent');
const MODEL = 'fake-model';
const COOLDOWN_MS = 60_000;
/** LLM_MAX_OUTAGE_MS on the test's clock: a few cooldowns. */
const MAX_OUTAGE_MS = 5 * COOLDOWN_MS;

let offset = 0;
function record(item: NewsItem | string, key?: string): InboundRecord {
  offset += 1;
  const value = typeof item === 'string' ? item : encodeValue(item).toString('utf8');
  return {
    topic: TOPICS.news.name,
    partition: 0,
    offset: String(offset),
    key: key ?? (typeof item === 'string' ? 'k' : item.id),
    value: Buffer.from(value, 'utf8'),
  };
}

let serial = 0;
function article(title: string, text = ''): NewsItem {
  serial += 1;
  return toNewsItem({
    title,
    text,
    url: `https://news.example/${serial}`,
    source: 'Example',
    feed: 'replay',
    publishedAt: Date.UTC(2022, 4, 9, 12, serial),
  });
}

const signalsOf = (outputs: readonly OutboundRecord[]): SentimentSignal[] =>
  outputs.filter((o) => o.topic === TOPICS.sentimentSignals.name).map((o) => sentimentSignalSchema.parse(o.value));

const failures = (reason: string): Promise<number> => metricValue('tickcast_sentiment_llm_failures_total', { reason });

async function waitUntil(probe: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('sentiment extractor against a local OpenAI-compatible server process', () => {
  let fake: OpenAiFake;
  let clock = 0;
  let breaker: CircuitBreaker;
  let health: DependencyHealth;
  let scorer: ResilientScorer;
  let logLines: { msg: string }[];
  let states: Map<string, ExtractorState>;
  let extract: (records: InboundRecord[]) => Promise<OutboundRecord[]>;

  before(async () => {
    fake = await startOpenAiFake('sk-test');
  });
  after(() => fake.stop());

  beforeEach(() => {
    clock = 0;
    breaker = new CircuitBreaker({ failureThreshold: 2, cooldownMs: COOLDOWN_MS, now: () => clock });
    const llm = new LlmScorer({
      baseUrl: fake.url,
      model: MODEL,
      apiKey: 'sk-test',
      prompt: loadPrompt('sentiment-v1'),
      timeoutMs: 400,
      maxRetries: 1,
      backoff: { initialDelayMs: 5, maxDelayMs: 5, multiplier: 1, jitter: 0 },
      logger,
    });
    logLines = [];
    health = new DependencyHealth(() => clock);
    health.useLogger(pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) }));
    scorer = new ResilientScorer(llm, new LexiconScorer(), breaker, logger, {
      maxOutageMs: MAX_OUTAGE_MS,
      health,
      checkIntervalMs: 20,
      now: () => clock,
      // A held article waits on the test's clock; the real pause lets the test look in between.
      sleep: async (ms) => {
        clock += ms;
        await new Promise((resolve) => setTimeout(resolve, 10));
      },
    });
    const processor = sentimentExtractor({
      scorer,
      maxArticles: 10_000,
      // The fixed clock only stamps signals (epoch + 1 s): no article may count as from the future.
      maxAheadMs: Number.MAX_SAFE_INTEGER,
      now: () => 1_000,
    });
    states = new Map<string, ExtractorState>();
    extract = async (records) => {
      const { outputs, changed } = await applyBatch(processor, states, records);
      for (const [key, state] of changed) states.set(key, state);
      return outputs;
    };
  });
  afterEach(async () => {
    scorer.close();
    await fake.setDefault({ kind: 'good' });
  });

  /** Scores one article after scripting the server; returns its signals. */
  async function scoreWith(behaviours: Behaviour[], title: string): Promise<SentimentSignal[]> {
    await fake.script(...behaviours);
    return signalsOf(await extract([record(article(title, 'Ether holders watched.'))]));
  }

  it('turns a well-formed answer into one LLM signal per tagged coin, asking only about those coins', async () => {
    const before = (await fake.requests()).length;
    const signals = await scoreWith([{ kind: 'good' }], 'Bitcoin rally lifts the market');
    assert.deepEqual(
      signals.map((s) => [s.coin, s.label, s.score, s.scorer, s.promptVersion]),
      [
        ['BTC', 'BULLISH', 0.7, `llm:${MODEL}`, 'sentiment-v1'],
        ['ETH', 'BULLISH', 0.7, `llm:${MODEL}`, 'sentiment-v1'],
      ],
    );
    const request = (await fake.requests())[before] as {
      model: string;
      response_format: { type: string; json_schema: { strict: boolean; schema: unknown } };
    };
    assert.equal(request.model, MODEL);
    assert.equal(request.response_format.type, 'json_schema');
    assert.equal(request.response_format.json_schema.strict, true);
    assert.match(JSON.stringify(request.response_format.json_schema.schema), /"enum":\["BTC","ETH"\]/);
  });

  for (const [kind, reason, behaviour] of [
    ['malformed', 'invalid_json', { kind: 'malformed' }],
    ['off-schema', 'schema', { kind: 'schema' }],
    ['partial', 'partial', { kind: 'partial' }],
    ['truncated', 'truncated', { kind: 'truncated' }],
    ['slow', 'timeout', { kind: 'slow', delayMs: 1_500 }],
    ['failing (500)', 'server_error', { kind: 'fail', status: 500 }],
    ['rate-limited (429)', 'rate_limited', { kind: 'fail', status: 429 }],
  ] as const) {
    it(`counts a ${kind} answer as ${reason}, retries, and stores the retry's valid answer`, async () => {
      const counted = await failures(reason);
      const signals = await scoreWith([behaviour, { kind: 'good' }], 'Exchange hack shakes Bitcoin');
      assert.equal(await failures(reason), counted + 1);
      assert.deepEqual(
        signals.map((s) => [s.coin, s.label, s.scorer]),
        [
          ['BTC', 'BEARISH', `llm:${MODEL}`],
          ['ETH', 'BEARISH', `llm:${MODEL}`],
        ],
      );
    });

    if (['timeout', 'server_error', 'rate_limited'].includes(reason)) continue;
    it(`falls back to the lexicon when every attempt is ${kind}, never storing the garbage`, async () => {
      const counted = await failures(reason);
      const signals = await scoreWith([behaviour, behaviour], 'Exchange hack shakes Bitcoin');
      assert.equal(await failures(reason), counted + 2);
      assert.deepEqual(
        signals.map((s) => [s.coin, s.scorer, s.promptVersion]),
        [
          ['BTC', 'lexicon:v1', null],
          ['ETH', 'lexicon:v1', null],
        ],
      );
      for (const s of signals) assert.ok(s.score >= -1 && s.score <= 1);
    });
  }

  it('does not retry a refusal or a rejected key, and falls back', async () => {
    const refused = await failures('refusal');
    const before = (await fake.requests()).length;
    const signals = await scoreWith([{ kind: 'refusal' }], 'Bitcoin news');
    assert.equal(await failures('refusal'), refused + 1);
    assert.equal((await fake.requests()).length, before + 1, 'a refusal is not retried');
    assert.equal(signals[0]?.scorer, 'lexicon:v1');
    const rejected = await failures('client_error');
    await scoreWith([{ kind: 'fail', status: 401 }], 'Bitcoin news again');
    assert.equal(await failures('client_error'), rejected + 1);
  });

  for (const [kind, behaviour] of [
    ['failing (503)', { kind: 'fail', status: 503 }],
    ['rate-limited (429)', { kind: 'fail', status: 429 }],
    ['slow (timeouts)', { kind: 'slow', delayMs: 1_500 }],
  ] as const) {
    it(`holds an article while every call is ${kind}: llm down once, no fallback score, the LLM's score once it is back`, async () => {
      await fake.setDefault(behaviour);
      const calls = (await fake.requests()).length;
      const fallbacksBefore = await metricValue('tickcast_sentiment_fallbacks_total', { why: 'llm_failed' });
      let settled = false;
      const scoring = scoreWith([], 'Bitcoin surges while the LLM is down').finally(() => {
        settled = true;
      });
      await waitUntil(() => health.isDown('llm'));
      assert.equal(breaker.state === 'closed', false);
      const ready = readiness(true, health);
      assert.equal(ready.ok, false);
      assert.match(ready.body, /unavailable: llm/);
      assert.equal(await metricValue('tickcast_dependency_up', { dependency: 'llm' }), 0);
      // Several trials fail while it stays down (the clock steps a cooldown per trial).
      await waitUntil(async () => (await fake.requests()).length >= calls + 6);
      assert.equal(settled, false, 'the article is held, not scored');
      await fake.setDefault({ kind: 'good' });
      const signals = await scoring;
      assert.deepEqual(
        signals.map((s) => [s.coin, s.label, s.scorer]),
        [
          ['BTC', 'BULLISH', `llm:${MODEL}`],
          ['ETH', 'BULLISH', `llm:${MODEL}`],
        ],
      );
      assert.equal(breaker.state, 'closed');
      assert.equal(health.isDown('llm'), false);
      assert.equal(await metricValue('tickcast_dependency_up', { dependency: 'llm' }), 1);
      assert.equal(await metricValue('tickcast_sentiment_fallbacks_total', { why: 'llm_failed' }), fallbacksBefore);
      assert.deepEqual(
        logLines.map((l) => l.msg),
        ['dependency down: llm', 'dependency up again: llm'],
        'one line per change of state, not one per failed call',
      );
    });
  }

  it('waits as long as a 429 Retry-After asks before retrying (within the backoff cap)', async () => {
    const llm = new LlmScorer({
      baseUrl: fake.url,
      model: MODEL,
      apiKey: 'sk-test',
      prompt: loadPrompt('sentiment-v1'),
      timeoutMs: 2_000,
      maxRetries: 1,
      backoff: { initialDelayMs: 5, maxDelayMs: 5_000, multiplier: 1, jitter: 0 },
      logger,
    });
    await fake.script({ kind: 'fail', status: 429, retryAfterSeconds: 1 }, { kind: 'good' });
    const started = Date.now();
    const scored = await llm.score(article('Bitcoin rally after the limit'), ['BTC']);
    assert.ok(Date.now() - started >= 1_000, `retried after ${Date.now() - started} ms`);
    assert.equal(scored.scorer, `llm:${MODEL}`);
  });

  it('beyond LLM_MAX_OUTAGE_MS fails the batch (retriable, nothing committed) and the process', async () => {
    await fake.setDefault({ kind: 'fail', status: 503 });
    const item = article('Bitcoin news during a long outage', 'Ether too.');
    await assert.rejects(
      extract([record(item)]),
      (error: unknown) => error instanceof TickcastError && error.code === 'UPSTREAM_UNAVAILABLE' && error.retriable,
    );
    assert.equal(states.has(item.id), false, 'the article was not marked as scored');
    assert.ok(clock > MAX_OUTAGE_MS);
    await assert.rejects(health.outageExceeded, (error: unknown) => {
      assert.ok(error instanceof DependencyOutageError);
      assert.equal(error.dependency, 'llm');
      return true;
    });
  });

  it('releases a held article when the extractor stops, failing its batch uncommitted', async () => {
    await fake.setDefault({ kind: 'fail', status: 503 });
    const scoring = scoreWith([], 'Bitcoin news while stopping');
    await waitUntil(() => health.isDown('llm'));
    scorer.close();
    await assert.rejects(scoring, (error: unknown) => error instanceof TickcastError && error.retriable);
  });

  it('answers the same content from the cache, and skips an article delivered again', async () => {
    const first = article('Solana rally continues', 'SOL up.');
    const syndicated = toNewsItem({ ...first, url: 'https://other.example/solana', feed: 'rss' });
    const calls = (await fake.requests()).length;
    const hits = await metricValue('tickcast_sentiment_llm_cache_hits_total');
    const outputs = await extract([record(first), record(syndicated), record(first)]);
    assert.equal((await fake.requests()).length, calls + 1, 'one call for one content');
    assert.equal(await metricValue('tickcast_sentiment_llm_cache_hits_total'), hits + 1);
    assert.deepEqual(
      signalsOf(outputs).map((s) => [s.articleId, s.coin]),
      [
        [first.id, 'SOL'],
        [syndicated.id, 'SOL'],
      ],
      'the re-delivered article produced nothing',
    );
  });

  it('dead-letters malformed news items and goes on', async () => {
    const good = article('Cardano upgrade goes live');
    const outputs = await extract([
      record('not json'),
      record(JSON.stringify({ v: 1, id: 'x', title: '' })),
      record(good, 'wrong-key'),
      record(good),
    ]);
    const letters = outputs
      .filter((o) => o.topic === TOPICS.deadLetters.name)
      .map((o) => deadLetterSchema.parse(o.value));
    assert.deepEqual(
      letters.map((l) => [l.code, l.processor]),
      Array.from({ length: 3 }, () => ['INVALID_EVENT', 'sentiment-extractor']),
    );
    assert.deepEqual(
      signalsOf(outputs).map((s) => s.coin),
      ['ADA'],
    );
  });

  it('publishes nothing for an article that mentions no coin', async () => {
    const calls = (await fake.requests()).length;
    assert.deepEqual(await extract([record(article('Central bank raises rates', 'Markets await.'))]), []);
    assert.equal((await fake.requests()).length, calls);
  });
});
