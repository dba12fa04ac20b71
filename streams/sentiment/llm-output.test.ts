import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LlmFailure, parseAnswer, responseJsonSchema } from './llm-output.ts';
import { DEFAULT_PROMPT, loadPrompt, parsePrompt, renderUser } from './prompt.ts';
import { cacheKey, ScoreCache } from './cache.ts';
import { TickcastError } from '../../lib/errors.ts';

const entry = (coin: string, score: number, label: string) => ({ coin, score, label, confidence: 0.8, reason: 'r.' });
const failsWith = (reason: string) => (e: unknown) => e instanceof LlmFailure && e.reason === reason;

describe('parseAnswer', () => {
  it('accepts one entry per coin asked, drops coins not asked, maps labels', () => {
    const content = JSON.stringify({
      coins: [entry('eth', -0.5, 'bearish'), entry('BTC', 0.7, 'bullish'), entry('DOGE', 0.1, 'neutral')],
    });
    assert.deepEqual(
      parseAnswer(content, ['BTC', 'ETH']).map((s) => [s.coin, s.score, s.label]),
      [
        ['BTC', 0.7, 'BULLISH'],
        ['ETH', -0.5, 'BEARISH'],
      ],
    );
  });

  it('refuses empty, non-JSON, truncated, off-schema, partial and self-contradicting answers', () => {
    assert.throws(() => parseAnswer('', ['BTC']), failsWith('empty'));
    assert.throws(() => parseAnswer(null, ['BTC']), failsWith('empty'));
    assert.throws(() => parseAnswer('{"coins": [{"coin": "BTC", "sco', ['BTC']), failsWith('invalid_json'));
    assert.throws(
      () => parseAnswer(JSON.stringify({ coins: [entry('BTC', 1.5, 'bullish')] }), ['BTC']),
      failsWith('schema'),
    );
    assert.throws(
      () => parseAnswer(JSON.stringify({ coins: [entry('BTC', 0.5, 'great')] }), ['BTC']),
      failsWith('schema'),
    );
    assert.throws(() => parseAnswer(JSON.stringify({ sentiment: 'bullish' }), ['BTC']), failsWith('schema'));
    assert.throws(
      () => parseAnswer(JSON.stringify({ coins: [entry('BTC', 0.5, 'bullish')] }), ['BTC', 'ETH']),
      failsWith('partial'),
    );
    assert.throws(
      () => parseAnswer(JSON.stringify({ coins: [entry('BTC', -0.8, 'bullish')] }), ['BTC']),
      failsWith('inconsistent'),
    );
  });

  it('builds a strict schema that only admits the coins asked', () => {
    const schema = JSON.stringify(responseJsonSchema(['BTC', 'SOL']));
    assert.match(schema, /"enum":\["BTC","SOL"\]/);
    assert.match(schema, /"additionalProperties":false/);
  });
});

describe('prompt files', () => {
  it('loads the shipped prompt with the version of its file name', () => {
    const prompt = loadPrompt(DEFAULT_PROMPT);
    assert.equal(prompt.version, 'sentiment-v1');
    const user = renderUser(prompt, { coins: 'BTC', source: 'X', title: 'T', text: 'Body' });
    assert.match(user, /Coins: BTC/);
    assert.doesNotMatch(user, /\{\{/);
  });

  it('refuses a file whose front matter names another version, or a missing section', () => {
    assert.throws(() => parsePrompt('---\nversion: v2\n---\n## system\na\n## user\nb', 'v1'), TickcastError);
    assert.throws(() => parsePrompt('---\nversion: v1\n---\n## system\na', 'v1'), TickcastError);
    assert.throws(() => parsePrompt('## system\na\n## user\nb', 'v1'), TickcastError);
  });

  it('refuses an unknown placeholder', () => {
    const prompt = parsePrompt('---\nversion: v1\n---\n## system\na\n## user\n{{nope}}', 'v1');
    assert.throws(() => renderUser(prompt, {}), TickcastError);
  });
});

describe('score cache', () => {
  it('keys by prompt version, model, content and the set of coins', () => {
    const key = cacheKey('sentiment-v1', 'm', 'h', ['ETH', 'BTC']);
    assert.equal(key, cacheKey('sentiment-v1', 'm', 'h', ['BTC', 'ETH']));
    assert.notEqual(key, cacheKey('sentiment-v2', 'm', 'h', ['BTC', 'ETH']));
    assert.notEqual(key, cacheKey('sentiment-v1', 'm2', 'h', ['BTC', 'ETH']));
    assert.notEqual(key, cacheKey('sentiment-v1', 'm', 'h2', ['BTC', 'ETH']));
    assert.notEqual(key, cacheKey('sentiment-v1', 'm', 'h', ['BTC']));
  });

  it('evicts the least recently used entry', () => {
    const cache = new ScoreCache(2);
    cache.set('a', []);
    cache.set('b', []);
    cache.get('a');
    cache.set('c', []);
    assert.equal(cache.get('b'), undefined);
    assert.deepEqual(cache.get('a'), []);
    assert.equal(cache.size, 2);
  });
});
