/**
 * Event contracts carried on the bus. Every producer builds values through these
 * schemas and every consumer validates with them, so a malformed record is caught
 * at the boundary where it enters (see `parseEvent`), never deep in a processor.
 *
 * Versioning: each value carries `v`. A breaking change adds a new literal and a new
 * topic suffix (see topics.ts); consumers keep accepting the old version until the
 * topic is retired.
 */
import { z } from 'zod';
import { INDICATOR_NAMES } from './indicators.ts';

/** Kraken API v2 symbol format, e.g. "BTC/USD". */
export const pairSchema = z.string().regex(/^[A-Z0-9]{2,10}\/[A-Z0-9]{2,10}$/, 'pair must look like BTC/USD');
export type Pair = z.infer<typeof pairSchema>;

/** Epoch milliseconds, UTC. */
const epochMs = z.number().int().nonnegative();
const finitePositive = z.number().finite().positive();
const finiteNonNegative = z.number().finite().nonnegative();

export const tradeSourceSchema = z.enum([
  'kraken-ws',
  'kraken-rest',
  'replay-candles',
  'replay-recording',
  'simulated',
]);
export type TradeSource = z.infer<typeof tradeSourceSchema>;

export const tradeSchema = z.object({
  v: z.literal(1),
  kind: z.literal('trade'),
  pair: pairSchema,
  /** Exchange trade id, unique and increasing per pair (Kraken `trade_id`). */
  tradeId: z.number().int().nonnegative(),
  price: finitePositive,
  qty: finitePositive,
  side: z.enum(['buy', 'sell']).nullable(),
  /** Event time: when the exchange matched the trade. */
  time: epochMs,
  source: tradeSourceSchema,
});
export type Trade = z.infer<typeof tradeSchema>;

/**
 * A source's statement that it has seen everything for `pair` up to `time`.
 * Sources emit it while a market is quiet so event-time windows still close
 * (a minute without trades would otherwise wait for the next trade).
 */
export const clockSchema = z.object({
  v: z.literal(1),
  kind: z.literal('clock'),
  pair: pairSchema,
  time: epochMs,
  source: tradeSourceSchema,
});
export type Clock = z.infer<typeof clockSchema>;

export const marketEventSchema = z.discriminatedUnion('kind', [tradeSchema, clockSchema]);
export type MarketEvent = z.infer<typeof marketEventSchema>;

/** Candle intervals are written like "1m", "15m", "1h", "1d". */
export const intervalSchema = z.string().regex(/^[1-9][0-9]*[mhd]$/, 'interval must look like 1m, 5m, 1h');
export type Interval = z.infer<typeof intervalSchema>;

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function intervalMs(interval: Interval): number {
  const unit = interval.slice(-1) as keyof typeof UNIT_MS;
  return Number(interval.slice(0, -1)) * UNIT_MS[unit];
}

export const candleSchema = z.object({
  v: z.literal(1),
  pair: pairSchema,
  interval: intervalSchema,
  /** Window start, inclusive. */
  openTime: epochMs,
  /** Window end, exclusive: openTime + interval. */
  closeTime: epochMs,
  open: finitePositive,
  high: finitePositive,
  low: finitePositive,
  close: finitePositive,
  /** Base-currency quantity traded. */
  volume: finiteNonNegative,
  /** Quote-currency turnover, sum(price * qty); with volume it gives VWAP and composes across windows. */
  quoteVolume: finiteNonNegative,
  /** Volume-weighted average price; the close for a window without trades. */
  vwap: finitePositive,
  tradeCount: z.number().int().nonnegative(),
  /** True when no trade fell in the window: O=H=L=C carry the previous close. */
  flat: z.boolean(),
  /** False for in-progress updates of a window that is still open. */
  final: z.boolean(),
});
export type Candle = z.infer<typeof candleSchema>;

export const indicatorValueSchema = z.number().finite().nullable();

export const indicatorSetSchema = z.object({
  v: z.literal(1),
  pair: pairSchema,
  interval: intervalSchema,
  /** Open time of the candle these values were computed at (its close included). */
  openTime: epochMs,
  close: finitePositive,
  /**
   * Indicator name (see INDICATOR_NAMES) to value; null while an indicator warms up. Written as
   * the known names, each optional, plus any other name: on JSON input this accepts exactly what
   * `z.record(z.string(), indicatorValueSchema)` does, and zod compiles an object's known keys
   * where a record checks key by key, about 3× faster for the consumers that decode one set per
   * record (the predictor's largest cost around session.run).
   */
  values: z
    .object(Object.fromEntries(INDICATOR_NAMES.map((name) => [name, indicatorValueSchema.optional()])))
    .catchall(indicatorValueSchema),
});
export type IndicatorSet = z.infer<typeof indicatorSetSchema>;

/** A record that could not be processed, kept with its reason instead of being lost. */
export const deadLetterSchema = z.object({
  v: z.literal(1),
  topic: z.string(),
  partition: z.number().int(),
  offset: z.string(),
  key: z.string().nullable(),
  /** The raw value as received (UTF-8), so it can be inspected and replayed. */
  value: z.string().nullable(),
  code: z.string(),
  message: z.string(),
  processor: z.string(),
  at: epochMs,
});
export type DeadLetter = z.infer<typeof deadLetterSchema>;

/**
 * A served prediction: the close of `pair` expected at `targetTime`, made when the candle
 * ending at `madeAt` closed. One per (pair, horizon, madeAt): the id says so, and the
 * predictor publishes it exactly once whichever model version is champion at the time.
 */
export const predictionSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  pair: pairSchema,
  horizonMinutes: z.number().int().positive(),
  madeAt: epochMs,
  targetTime: epochMs,
  /** The close the prediction starts from. */
  basePrice: finitePositive,
  predictedLogReturn: z.number().finite(),
  predictedPrice: finitePositive,
  /** Bounds of the split-conformal interval (90% by default); null when the model has none. */
  lowerBound: finitePositive.nullable(),
  upperBound: finitePositive.nullable(),
  modelName: z.string().min(1),
  modelVersion: z.string().min(1),
  /**
   * Set when the model's inputs were missing (the partner pair's feed stale) and the
   * prediction is persistence's: the close unchanged, with the model's interval.
   */
  fallback: z.literal('persistence').optional(),
});
export type Prediction = z.infer<typeof predictionSchema>;

export function predictionId(pair: string, horizonMinutes: number, madeAt: number): string {
  return `${pair}|${horizonMinutes}m|${new Date(madeAt).toISOString()}`;
}

/** A prediction joined with the close it predicted, once its target time has passed. */
export const predictionOutcomeSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  pair: pairSchema,
  horizonMinutes: z.number().int().positive(),
  modelName: z.string().min(1),
  modelVersion: z.string().min(1),
  targetTime: epochMs,
  predictedPrice: finitePositive,
  actualPrice: finitePositive,
  /** actualPrice - predictedPrice */
  error: z.number().finite(),
});
export type PredictionOutcome = z.infer<typeof predictionOutcomeSchema>;

/** Rolling error of one model version on one market and horizon, over the last `count` outcomes. */
export const modelPerformanceSchema = z.object({
  v: z.literal(1),
  modelName: z.string().min(1),
  modelVersion: z.string().min(1),
  pair: pairSchema,
  horizonMinutes: z.number().int().positive(),
  count: z.number().int().positive(),
  mae: z.number().finite(),
  rmse: z.number().finite(),
  mape: z.number().finite(),
  /** Over outcomes whose actual move was not flat; null when every move was flat. */
  directionalAccuracy: z.number().finite().nullable(),
  /** Share of outcomes inside the predicted interval; null when predictions carried none. */
  intervalCoverage: z.number().finite().nullable(),
  /**
   * The interval half-width (log-return space) the monitor's adaptive conformal tracker asks
   * the version's next predictions to carry; null when predictions carried no interval.
   * Absent from events published before it existed.
   */
  adaptiveHalfWidth: z.number().nonnegative().finite().nullable().optional(),
  updatedAt: epochMs,
});
export type ModelPerformance = z.infer<typeof modelPerformanceSchema>;

/** Raised when a version's rolling error drifts past its training error. */
export const modelAlertSchema = z.object({
  v: z.literal(1),
  modelName: z.string().min(1),
  modelVersion: z.string().min(1),
  pair: pairSchema,
  horizonMinutes: z.number().int().positive(),
  rollingMae: z.number().finite(),
  trainingMae: z.number().finite(),
  factor: z.number().finite(),
  recommendation: z.string(),
  at: epochMs,
});
export type ModelAlert = z.infer<typeof modelAlertSchema>;

/** Where a news item came from: a news API, an RSS/Atom feed, or the replay of a headline dataset. */
export const newsFeedSchema = z.enum(['cryptopanic', 'rss', 'replay']);
export type NewsFeed = z.infer<typeof newsFeedSchema>;

/** Crypto tickers as the sentiment pipeline writes them, e.g. "BTC". */
export const coinSchema = z.string().regex(/^[A-Z0-9]{2,10}$/, 'coin must be an upper-case ticker like BTC');

/**
 * One news article as a source saw it. `id` is derived from the canonical URL (or the
 * publisher and title when there is none), so the same article polled twice, or replayed
 * after a restart, carries the same id and Kafka key.
 */
export const newsItemSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  title: z.string().min(1),
  /** Summary or lede; empty when the source gives none. */
  text: z.string(),
  url: z.string().nullable(),
  /** The publisher, e.g. "CoinTelegraph". */
  source: z.string().min(1),
  feed: newsFeedSchema,
  publishedAt: epochMs,
  /** sha256 of the normalised title and text: the same story under two URLs hashes alike. */
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** Coins the source itself tagged (CryptoPanic `currencies`); empty when it tags none. */
  sourceCoins: z.array(coinSchema),
});
export type NewsItem = z.infer<typeof newsItemSchema>;

export const sentimentLabelSchema = z.enum(['BULLISH', 'NEUTRAL', 'BEARISH']);
export type SentimentLabel = z.infer<typeof sentimentLabelSchema>;

/** One coin's sentiment in one article, as one scorer judged it. */
export const sentimentSignalSchema = z.object({
  v: z.literal(1),
  articleId: z.string().min(1),
  coin: coinSchema,
  score: z.number().finite().min(-1).max(1),
  label: sentimentLabelSchema,
  confidence: z.number().finite().min(0).max(1),
  /** One sentence. */
  reason: z.string().min(1),
  /** Which scorer produced it: `llm:<model>` or `lexicon:<version>`. */
  scorer: z.string().min(1),
  /** The prompt file's version for LLM signals; null for the offline scorer. */
  promptVersion: z.string().min(1).nullable(),
  createdAt: epochMs,
  title: z.string().min(1),
  url: z.string().nullable(),
  source: z.string().min(1),
  publishedAt: epochMs,
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** The article's feed, so a replayed headline is shown as such; absent in signals written before it existed. */
  feed: newsFeedSchema.optional(),
});
export type SentimentSignal = z.infer<typeof sentimentSignalSchema>;

export const sentimentWindowSchema = z.enum(['1h', '4h', '24h']);
export type SentimentWindow = z.infer<typeof sentimentWindowSchema>;

/** Rolling sentiment of one coin over one window ending at `asOf` (article publish time). */
export const sentimentFeatureSchema = z.object({
  v: z.literal(1),
  coin: coinSchema,
  window: sentimentWindowSchema,
  asOf: epochMs,
  meanScore: z.number().finite().min(-1).max(1),
  count: z.number().int().nonnegative(),
  bullishRatio: z.number().finite().min(0).max(1),
  bearishRatio: z.number().finite().min(0).max(1),
});
export type SentimentFeature = z.infer<typeof sentimentFeatureSchema>;
