/**
 * LLM completions, fuzzed: the answer checker (`parseAnswer`) on its own, then the real LLM
 * scorer (the `openai` client) against a local OpenAI-compatible server answering generated
 * completions: valid answers, answers with one field mutated, partial, inconsistent,
 * truncated, non-JSON, deeply nested, refusals and cut-off (`finish_reason: "length"`). A
 * valid answer becomes scores for exactly the coins asked; anything else is an LlmFailure
 * counted once in `tickcast_sentiment_llm_failures_total`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createLogger } from '../../lib/logger.ts';
import { LlmScorer } from '../../streams/sentiment/llm.ts';
import { LlmFailure, parseAnswer } from '../../streams/sentiment/llm-output.ts';
import { loadPrompt } from '../../streams/sentiment/prompt.ts';
import { LABEL_THRESHOLD } from '../../streams/sentiment/scorer.ts';
import { counterTotal, fuzzParams, hostileJsonText, hostileNumber, hostileText } from './support.ts';

const COINS = ['BTC', 'ETH'] as const;
const FIELDS = ['coin', 'score', 'label', 'confidence', 'reason'] as const;

const validEntry = (coin: string) =>
  fc
    .record({
      score: fc.double({ min: -1, max: 1, noNaN: true }),
      confidence: fc.double({ min: 0, max: 1, noNaN: true }),
      reason: fc.stringMatching(/^[A-Za-z][A-Za-z ]{0,60}$/),
    })
    .map(({ score, confidence, reason }) => ({
      coin,
      score,
      // A label consistent with the score, as the prompt asks.
      label: score >= LABEL_THRESHOLD ? 'bullish' : score <= -LABEL_THRESHOLD ? 'bearish' : 'neutral',
      confidence,
      reason,
    }));

type AnswerSpec =
  | { kind: 'valid'; entries: Record<string, unknown>[] }
  | {
      kind: 'mutated';
      entries: Record<string, unknown>[];
      at: number;
      field: string;
      how: 'replace' | 'remove';
      value: unknown;
    }
  | { kind: 'partial'; entries: Record<string, unknown>[] }
  | { kind: 'text'; text: string }
  | { kind: 'truncated'; entries: Record<string, unknown>[]; cut: number };

const entries = fc.tuple(validEntry('BTC'), validEntry('ETH'));
const answerSpec: fc.Arbitrary<AnswerSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('valid' as const), entries }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('mutated' as const),
      entries,
      at: fc.integer({ min: 0, max: 1 }),
      field: fc.constantFrom(...FIELDS),
      how: fc.constantFrom('replace' as const, 'remove' as const),
      value: fc.oneof(hostileNumber, hostileText, fc.constantFrom('bullish', 'bearish', 'neutral', 'BTC', 'DOGE')),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('partial' as const), entries: entries.map(([btc]) => [btc]) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('text' as const), text: fc.oneof(hostileText, hostileJsonText) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('truncated' as const),
      entries,
      cut: fc.double({ min: 0, max: 1, maxExcluded: true }),
    }),
  },
);

function content(spec: AnswerSpec): string {
  switch (spec.kind) {
    case 'text':
      return spec.text;
    case 'truncated': {
      const text = JSON.stringify({ coins: spec.entries });
      return text.slice(0, Math.floor(spec.cut * text.length));
    }
    case 'mutated': {
      const copy = spec.entries.map((e) => ({ ...e }));
      const target = copy[spec.at]!;
      if (spec.how === 'remove') delete target[spec.field];
      else target[spec.field] = spec.value;
      return JSON.stringify({ coins: copy });
    }
    default:
      return JSON.stringify({ coins: spec.entries });
  }
}

/** Answers that can never be scores: a required field gone, an entry missing, broken JSON. */
function mustFail(spec: AnswerSpec): boolean {
  if (spec.kind === 'partial' || spec.kind === 'truncated') return true;
  if (spec.kind !== 'mutated') return false;
  if (spec.how === 'remove') return true;
  const v = spec.value;
  switch (spec.field) {
    case 'score':
      return !(typeof v === 'number' && Number.isFinite(v) && v >= -1 && v <= 1);
    case 'confidence':
      return !(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1);
    case 'label':
      return !['bullish', 'bearish', 'neutral'].includes(v as string);
    case 'reason':
      return typeof v !== 'string' || v.trim() === '' || v.trim().length > 400;
    default:
      return typeof v !== 'string';
  }
}

function checkScores(scores: readonly { coin: string; score: number; confidence: number }[]): void {
  assert.deepEqual(
    scores.map((s) => s.coin),
    [...COINS],
  );
  for (const s of scores) {
    assert.ok(Number.isFinite(s.score) && s.score >= -1 && s.score <= 1);
    assert.ok(Number.isFinite(s.confidence) && s.confidence >= 0 && s.confidence <= 1);
  }
}

describe('fuzz: LLM answers (parseAnswer)', () => {
  it('returns scores for exactly the coins asked or throws an LlmFailure with a reason', () => {
    fc.assert(
      fc.property(answerSpec, (spec) => {
        let scores;
        try {
          scores = parseAnswer(content(spec), COINS);
        } catch (error) {
          assert.ok(error instanceof LlmFailure, `not an LlmFailure: ${String(error)}`);
          assert.equal(spec.kind === 'valid', false, `valid answer refused: ${error.message}`);
          return;
        }
        assert.equal(mustFail(spec), false, `accepted ${content(spec)}`);
        checkScores(scores);
      }),
      fuzzParams(3_000),
    );
  });
});

describe('fuzz: LLM completions through the real scorer and a local OpenAI-compatible server', () => {
  let server: Server;
  let completion = '';
  let scorer: LlmScorer;
  let article = 0;

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(completion));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    scorer = new LlmScorer({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: 'fuzz',
      apiKey: 'sk-fuzz',
      prompt: loadPrompt('sentiment-v1'),
      timeoutMs: 5_000,
      maxRetries: 0,
      backoff: { initialDelayMs: 1, maxDelayMs: 1, multiplier: 1, jitter: 0 },
      logger: createLogger('silent'),
    });
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const envelope = fc.oneof(
    { weight: 6, arbitrary: fc.constant('stop' as const) },
    { weight: 1, arbitrary: fc.constant('length' as const) },
    { weight: 1, arbitrary: fc.constant('refusal' as const) },
    { weight: 1, arbitrary: fc.constant('no-choices' as const) },
    { weight: 1, arbitrary: fc.constant('not-a-completion' as const) },
  );

  it('scores a valid completion and counts every other one once as an LlmFailure', async () => {
    await fc.assert(
      fc.asyncProperty(answerSpec, envelope, async (spec, shape) => {
        const text = content(spec);
        const message =
          shape === 'refusal'
            ? { role: 'assistant', content: null, refusal: text }
            : { role: 'assistant', content: text };
        completion =
          shape === 'not-a-completion'
            ? text
            : JSON.stringify({
                id: 'c',
                object: 'chat.completion',
                created: 0,
                model: 'fuzz',
                choices:
                  shape === 'no-choices'
                    ? []
                    : [{ index: 0, message, finish_reason: shape === 'length' ? 'length' : 'stop' }],
              });
        const failuresBefore = await counterTotal('tickcast_sentiment_llm_failures_total');
        // A fresh content hash per case: the scorer's cache must not answer for the server.
        const contentHash = createHash('sha256').update(String(article++)).digest('hex');
        try {
          const scored = await scorer.score({ title: 'Bitcoin and Ether', text: 'Markets move.', contentHash }, COINS);
          assert.equal(shape, 'stop', `a ${shape} completion was scored`);
          assert.equal(mustFail(spec), false, `accepted ${text}`);
          checkScores(scored.scores);
          assert.equal(await counterTotal('tickcast_sentiment_llm_failures_total'), failuresBefore);
        } catch (error) {
          assert.ok(error instanceof LlmFailure, `not an LlmFailure: ${String(error)}`);
          assert.ok(!(shape === 'stop' && spec.kind === 'valid'), `valid completion refused: ${error.message}`);
          assert.equal(await counterTotal('tickcast_sentiment_llm_failures_total'), failuresBefore + 1);
        }
      }),
      fuzzParams(400),
    );
  });
});
