import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSignal, ALLOWED_LATENESS, featuresFrom, initialCoinWindowState, windowFeatures } from './rolling.ts';
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

  it('keeps what falls out of 24 h for late signals, and refuses one more than ALLOWED_LATENESS behind', () => {
    const state = initialCoinWindowState();
    addSignal(state, signal('old', T0 - 25 * H, 0.9, 'BULLISH'));
    addSignal(state, signal('new', T0, 0.1, 'NEUTRAL'));
    const day = windowFeatures(state, 'LUNA').find((f) => f.window === '24h');
    assert.equal(day?.count, 1, 'the 24 h window ending now holds the new article only');
    assert.equal(addSignal(state, signal('late', T0 - 24 * H, 0.9, 'BULLISH')), true, 'a day late is in time');
    assert.equal(addSignal(state, signal('too-late', T0 - ALLOWED_LATENESS, 0.9, 'BULLISH')), false);
    addSignal(state, signal('later', T0 + ALLOWED_LATENESS + 25 * H, 0, 'NEUTRAL'));
    assert.deepEqual(
      state.entries.map((e) => e.articleId),
      ['later'],
      'entries more than a day behind the oldest time a late signal may have are dropped',
    );
    assert.equal(windowFeatures(initialCoinWindowState(), 'LUNA').length, 0);
  });

  it('stores the same features whatever order the signals arrive in', () => {
    const signals = [
      signal('a', T0 - 30 * H, 0.4, 'BULLISH'),
      signal('b', T0 - 5 * H, -0.6, 'BEARISH'),
      signal('c', T0 - 3 * H, 0.2, 'NEUTRAL'),
      signal('d', T0 - 30 * 60_000, 0.9, 'BULLISH'),
      signal('e', T0, -0.1, 'NEUTRAL'),
    ];
    /** What a store that upserts by (window, asOf) ends up with after the processor's emissions. */
    const stored = (order: readonly SentimentSignal[]) => {
      const state = initialCoinWindowState();
      const rows = new Map<string, unknown>();
      for (const s of order) {
        addSignal(state, s);
        for (const f of featuresFrom(state, 'LUNA', s.publishedAt)) rows.set(`${f.window}|${f.asOf}`, f);
      }
      return new Map([...rows].sort(([a], [b]) => a.localeCompare(b)));
    };
    const inOrder = stored(signals);
    assert.equal(inOrder.size, 15, 'three windows as of each of the five articles');
    for (const order of [[...signals].reverse(), [signals[2]!, signals[4]!, signals[0]!, signals[3]!, signals[1]!]]) {
      assert.deepEqual(stored(order), inOrder);
    }
  });
});
