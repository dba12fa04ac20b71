import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { INDICATOR_NAMES } from '../schema/indicators.ts';
import { buildDataset, type SeriesPoint } from './dataset.ts';
import { FEATURE_NAMES } from './features.ts';
import { SENTIMENT_FEATURE_NAMES, sentimentDatasetOptions, type SentimentRow } from './sentiment.ts';

const M = 60_000;
const T0 = Date.UTC(2023, 3, 4, 12);
const row = (window: SentimentRow['window'], asOf: number, meanScore: number, count: number): SentimentRow => ({
  window,
  asOf,
  meanScore,
  count,
  bullishRatio: 0.5,
  bearishRatio: 0.25,
});

/** Indicator values that make every base feature defined (see features.ts). */
const values = Object.fromEntries(INDICATOR_NAMES.map((name) => [name, 1]));
const series: SeriesPoint[] = Array.from({ length: 200 }, (_, i) => ({ openTime: T0 + i * M, close: 100, values }));

describe('sentiment training features', () => {
  it('adds none when the store has no sentiment', () => {
    assert.equal(sentimentDatasetOptions([]), null);
  });

  it('joins each candle with the newest row published by its close, and only while its window reaches it', () => {
    const options = sentimentDatasetOptions([
      row('1h', T0 + 10 * M, 0.4, 3),
      row('1h', T0 + 30 * M + 30_000, -0.6, 1), // published inside the candle opening at +30m
      row('24h', T0 - 2 * 3_600_000, 0.2, 9),
    ]);
    assert.ok(options);
    const dataset = buildDataset(series, 1, options);
    assert.deepEqual(dataset.featureNames, [...FEATURE_NAMES, ...SENTIMENT_FEATURE_NAMES]);
    const at = (minute: number): number[] => {
      const r = dataset.rows.find((x) => x.openTime === T0 + minute * M);
      assert.ok(r, `row at +${minute}m`);
      return r.x.slice(FEATURE_NAMES.length);
    };
    const log = Math.log1p;
    // Before the first 1h row: empty 1h and 4h windows, the 24h row (2 h old) applies.
    assert.deepEqual(at(5), [0, 0, 0, 0, 0, 0, 0, 0, 0.2, log(9), 0.5, 0.25]);
    // The candle at +9m closes at +10m: the row at +10m is not yet published by then.
    assert.deepEqual(at(9).slice(0, 4), [0, 0, 0, 0]);
    assert.deepEqual(at(10).slice(0, 4), [0.4, log(3), 0.5, 0.25]);
    assert.deepEqual(at(29).slice(0, 4), [0.4, log(3), 0.5, 0.25]);
    assert.deepEqual(at(30).slice(0, 4), [-0.6, log(1), 0.5, 0.25], 'published before the close of its candle');
    // The 1h row at +30.5m reaches the candle closing at +90m, not the one closing at +91m.
    assert.deepEqual(at(89).slice(0, 4), [-0.6, log(1), 0.5, 0.25]);
    assert.deepEqual(at(90).slice(0, 4), [0, 0, 0, 0]);
    // The 24h row (2 h before T0) reaches every candle of this 200-minute series.
    assert.deepEqual(at(150).slice(8), [0.2, log(9), 0.5, 0.25]);
  });
});
