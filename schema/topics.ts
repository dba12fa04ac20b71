/**
 * Every Kafka topic tickcast uses, declared once. The Kafka bus creates topics from
 * this table, docs/architecture.md documents it, and the k8s KafkaTopic resources
 * are checked against it.
 */
import type { z } from 'zod';
import {
  candleSchema,
  deadLetterSchema,
  indicatorSetSchema,
  marketEventSchema,
  modelAlertSchema,
  modelPerformanceSchema,
  predictionOutcomeSchema,
  newsItemSchema,
  predictionSchema,
  sentimentFeatureSchema,
  sentimentSignalSchema,
} from './events.ts';

export interface TopicSpec {
  readonly name: string;
  /** What the record key is; records with one key stay in order on one partition. */
  readonly key: string;
  /** Schema of the value; null where the owning processor validates with its own state schema. */
  readonly value: z.ZodType | null;
  readonly valueName: string;
  readonly partitions: number;
  /** -1 keeps records forever (compacted state). */
  readonly retentionMs: number;
  readonly compacted: boolean;
  readonly producers: readonly string[];
  readonly consumers: readonly string[];
}

const DAY_MS = 86_400_000;

export const TOPICS = {
  marketEvents: {
    name: 'tickcast.market.events.v1',
    key: 'pair, e.g. "BTC/USD"',
    value: marketEventSchema,
    valueName: 'MarketEvent (Trade | Clock)',
    partitions: 3,
    retentionMs: 7 * DAY_MS,
    compacted: false,
    producers: ['kraken-ws source', 'kraken-rest backfill', 'replay', 'simulated market'],
    consumers: ['candles processor', 'feature store writer (trades table)'],
  },
  candles: {
    name: 'tickcast.candles.v1',
    key: 'pair',
    value: candleSchema,
    valueName: 'Candle (final, one per pair/interval/openTime)',
    partitions: 3,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['candles processor'],
    consumers: ['indicators processor', 'feature store writer'],
  },
  candlesLive: {
    name: 'tickcast.candles.live.v1',
    key: 'pair|interval',
    value: candleSchema,
    valueName: 'Candle (final=false: in-progress window)',
    partitions: 3,
    retentionMs: DAY_MS,
    compacted: true,
    producers: ['candles processor'],
    consumers: ['live charts (markets subgraph)'],
  },
  indicators: {
    name: 'tickcast.indicators.v1',
    key: 'pair',
    value: indicatorSetSchema,
    valueName: 'IndicatorSet',
    partitions: 3,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['indicators processor'],
    consumers: ['feature store writer', 'predictor'],
  },
  predictions: {
    name: 'tickcast.predictions.v1',
    key: 'pair',
    value: predictionSchema,
    valueName: 'Prediction',
    partitions: 3,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['predictor'],
    consumers: ['predictions store writer', 'error monitor', 'predictions subgraph (subscriptions)'],
  },
  predictionOutcomes: {
    name: 'tickcast.prediction.outcomes.v1',
    key: 'pair',
    value: predictionOutcomeSchema,
    valueName: 'PredictionOutcome',
    partitions: 3,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['error monitor'],
    consumers: ['predictions store writer'],
  },
  modelPerformance: {
    name: 'tickcast.model.performance.v1',
    key: 'model|version|pair|horizon',
    value: modelPerformanceSchema,
    valueName: 'ModelPerformance (rolling window)',
    partitions: 3,
    retentionMs: -1,
    compacted: true,
    producers: ['error monitor'],
    consumers: ['predictions store writer'],
  },
  modelAlerts: {
    name: 'tickcast.model.alerts.v1',
    key: 'model name',
    value: modelAlertSchema,
    valueName: 'ModelAlert',
    partitions: 1,
    retentionMs: 90 * DAY_MS,
    compacted: false,
    producers: ['error monitor'],
    consumers: ['operators, predictions subgraph (modelAlert subscription)'],
  },
  news: {
    name: 'tickcast.news.v1',
    key: 'article id',
    value: newsItemSchema,
    valueName: 'NewsItem',
    partitions: 3,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['cryptopanic client', 'rss/atom poller', 'news replay'],
    consumers: ['sentiment extractor', 'sentiment store writer (news_articles)'],
  },
  sentimentSignals: {
    name: 'tickcast.sentiment.signals.v1',
    key: 'coin, e.g. "BTC"',
    value: sentimentSignalSchema,
    valueName: 'SentimentSignal',
    partitions: 3,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['sentiment extractor'],
    consumers: [
      'sentiment features processor',
      'sentiment store writer',
      'sentiment subgraph (sentimentSignal subscription)',
    ],
  },
  sentimentFeatures: {
    name: 'tickcast.sentiment.features.v1',
    key: 'coin|window',
    value: sentimentFeatureSchema,
    valueName: 'SentimentFeature (rolling 1h/4h/24h)',
    partitions: 3,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['sentiment features processor'],
    consumers: ['sentiment store writer (sentiment_features)'],
  },
  deadLetters: {
    name: 'tickcast.deadletter.v1',
    key: 'source topic',
    value: deadLetterSchema,
    valueName: 'DeadLetter',
    partitions: 1,
    retentionMs: 30 * DAY_MS,
    compacted: false,
    producers: ['every processor'],
    consumers: ['operators (inspect and replay by hand)'],
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof TOPICS;

/**
 * The changelog of a stateful processor: its state per key, written in the same Kafka
 * transaction as its output and its input offsets, so a restart resumes exactly where
 * the last committed batch left off. Partitioned like the processor's inputs (3, as every
 * input above; the runtime creates it with its inputs' actual count and refuses another):
 * the state of a key read from input partition p is kept in changelog partition p, which is
 * all a replica taking over task p reads back.
 */
export function changelogTopic(processor: string): TopicSpec {
  return {
    name: `tickcast.${processor}.changelog.v1`,
    key: 'state key (pair), in the partition of its input',
    value: null,
    valueName: `${processor} state snapshot`,
    partitions: 3,
    retentionMs: -1,
    compacted: true,
    producers: [`${processor} processor`],
    consumers: [`${processor} processor (when a replica takes a task)`],
  };
}
