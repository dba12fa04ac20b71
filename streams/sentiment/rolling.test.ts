import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSignal, initialCoinWindowState, windowFeatures } from './rolling.ts';
import type { SentimentSignal } from '../../schema/events.ts';

const H = 3_600_000;
const T0 = Date.UTC(2022, 4, 9, 12);
const signal = (articleId: string, at: number, score: number, label: SentimentSignal['label']): SentimentSignal => ({
  v: 1,
  articleId,
  coin: 'LUNA',
  score,
  label,
  confidence: 0.5,
  reason: 'r.',
  scorer: 'lexicon:v1',
  promptVersion: null,
  createdAt: T0,
  title: 't',
  url: null,
  source: 's',
  publishedAt: at,
  contentHash: '0'.repeat(64),
});

describe('rolling sentiment windows', () => {
  it('computes mean, count and label ratios per window ending at the newest article', () => {
    const state = initialCoinWindowState();
    addSignal(state, signal('a', T0 - 20 * H, 0.5, 'BULLISH'));
    addSignal(state, signal('b', T0 - 3 * H, -0.5, 'BEARISH'));
    addSignal(state, signal('c', T0 - 30 * 60_000, 0, 'NEUTRAL'));
    addSignal(state, signal('d', T0, -0.7, 'BEARISH'));
    const byWindow = Object.fromEntries(windowFeatures(state, 'LUNA').map((f) => [f.window, f]));
    assert.deepEqual(
      ['1h', '4h', '24h'].map((w) => [
        byWindow[w]?.count,
        Math.round((byWindow[w]?.meanScore ?? NaN) * 1e9) / 1e9,
        byWindow[w]?.asOf,
      ]),
      [
        [2, -0.35, T0],
        [3, -0.4, T0],
        [4, -0.175, T0],
      ],
    );
    assert.equal(byWindow['24h']?.bullishRatio, 0.25);
    assert.equal(byWindow['24h']?.bearishRatio, 0.5);
    assert.equal(byWindow['1h']?.bullishRatio, 0);
  });

  it('replaces a re-scored article instead of counting it twice', () => {
    const state = initialCoinWindowState();
    addSignal(state, signal('a', T0, 0.5, 'BULLISH'));
    addSignal(state, signal('a', T0, -0.5, 'BEARISH'));
    const day = windowFeatures(state, 'LUNA').find((f) => f.window === '24h');
    assert.equal(day?.count, 1);
    assert.equal(day?.meanScore, -0.5);
  });

  it('drops what falls out of 24 h and refuses a signal older than that', () => {
    const state = initialCoinWindowState();
    addSignal(state, signal('old', T0 - 25 * H, 0.9, 'BULLISH'));
    addSignal(state, signal('new', T0, 0.1, 'NEUTRAL'));
    assert.deepEqual(
      state.entries.map((e) => e.articleId),
      ['new'],
    );
    assert.equal(addSignal(state, signal('late', T0 - 24 * H, 0.9, 'BULLISH')), false);
    assert.equal(windowFeatures(initialCoinWindowState(), 'LUNA').length, 0);
  });
});
