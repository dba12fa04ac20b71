/**
 * The predictor: for every closed one-minute indicator set, one prediction per horizon
 * from that horizon's champion, published exactly once (the stateful runtime commits
 * predictions with the input offsets). Which version made it is a field, not part of the
 * id, so a champion swap mid-stream neither skips nor repeats a (pair, horizon, time).
 */
import { z } from 'zod';
import { indicatorSetSchema, predictionId, type Prediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { counter } from '../../lib/metrics.ts';
import { featureVector } from '../../training/features.ts';
import type { OutboundRecord, StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import type { Champion } from './champions.ts';

/** Where the predictor finds the model serving a (pair, horizon); `Champions` follows the registry. */
export interface ChampionSource {
  get(pair: string, horizonMinutes: number): Champion | undefined;
}

/** The pair's news sentiment inputs at the close of the candle opening at `openTime` (training/sentiment.ts). */
export type SentimentInputs = (pair: string, openTime: number) => Promise<number[]>;

/**
 * The partner pair's return inputs for the candle opening at `openTime` (training/cross-asset.ts),
 * from the feature store; null values when the partner's candles are not there (its feed is stale).
 */
export type PartnerInputs = (
  pair: string,
  openTime: number,
  own: Readonly<Record<string, number | null | undefined>>,
) => Promise<(number | null)[]>;

const predictions = counter('tickcast_predictor_predictions_total', 'Predictions published', [
  'pair',
  'horizon',
  'model_version',
]);
const skipped = counter('tickcast_predictor_skipped_total', 'Indicator sets without a prediction, by reason', [
  'pair',
  'reason',
]);

const MINUTE_MS = 60_000;

const predictorStateSchema = z.object({ lastOpenTime: z.number().nullable() });
type PredictorState = z.infer<typeof predictorStateSchema>;

const fallbacks = counter(
  'tickcast_predictor_fallbacks_total',
  "Predictions made as persistence because the model's inputs were missing, by reason",
  ['pair', 'horizon', 'reason'],
);

export function predictorProcessor(
  champions: ChampionSource,
  horizons: readonly number[],
  sentiment?: SentimentInputs,
  partner?: PartnerInputs,
): StatefulProcessor<PredictorState> {
  return {
    name: 'predictor',
    inputs: [TOPICS.indicators.name],
    stateSchema: predictorStateSchema,
    initialState: () => ({ lastOpenTime: null }),
    async process(state, record) {
      const set = decodeValue(indicatorSetSchema, record);
      if (set.interval !== '1m') return [];
      if (state.lastOpenTime !== null && set.openTime <= state.lastOpenTime) {
        skipped.inc({ pair: set.pair, reason: 'replayed' });
        return [];
      }
      state.lastOpenTime = set.openTime;
      const base = featureVector(set);
      if (base === null) {
        skipped.inc({ pair: set.pair, reason: 'warming-up' });
        return [];
      }
      // Built once per set, only when a serving model reads sentiment or the partner's returns.
      let withSentiment: Promise<number[] | null> | undefined;
      let withPartner: Promise<number[] | null> | undefined;
      const inputsFor = (champion: Champion): Promise<number[] | null> => {
        if (champion.inputs === 'indicators') return Promise.resolve(base);
        if (champion.inputs === 'indicators+partner') {
          if (!partner) return Promise.resolve(null);
          withPartner ??= partner(set.pair, set.openTime, set.values).then((extra) => featureVector(set, extra));
          return withPartner;
        }
        if (!sentiment) return Promise.resolve(null);
        withSentiment ??= sentiment(set.pair, set.openTime).then((extra) => featureVector(set, extra));
        return withSentiment;
      };
      const madeAt = set.openTime + MINUTE_MS;
      const out: OutboundRecord[] = [];
      for (const horizon of horizons) {
        const champion = champions.get(set.pair, horizon);
        if (!champion) {
          skipped.inc({ pair: set.pair, reason: `no-champion-${horizon}m` });
          continue;
        }
        const x = await inputsFor(champion);
        // A silent partner feed must not make the pair's predictions worse than persistence:
        // without the partner's inputs the prediction is persistence's, and says so.
        const fallback = x === null && champion.inputs === 'indicators+partner';
        if (x === null && !fallback) {
          skipped.inc({ pair: set.pair, reason: 'no-sentiment-source' });
          continue;
        }
        if (fallback) fallbacks.inc({ pair: set.pair, horizon: String(horizon), reason: 'partner-stale' });
        const [logReturn = Number.NaN] = x === null ? [0] : await champion.onnx.predict([x]);
        if (!Number.isFinite(logReturn)) {
          skipped.inc({ pair: set.pair, reason: 'non-finite-output' });
          continue;
        }
        const q = champion.intervalHalfWidth;
        const prediction: Prediction = {
          v: 1,
          id: predictionId(set.pair, horizon, madeAt),
          pair: set.pair,
          horizonMinutes: horizon,
          madeAt,
          targetTime: madeAt + horizon * MINUTE_MS,
          basePrice: set.close,
          predictedLogReturn: logReturn,
          predictedPrice: set.close * Math.exp(logReturn),
          lowerBound: q === null ? null : set.close * Math.exp(logReturn - q),
          upperBound: q === null ? null : set.close * Math.exp(logReturn + q),
          modelName: champion.modelName,
          modelVersion: champion.version,
          ...(fallback ? { fallback: 'persistence' as const } : {}),
        };
        predictions.inc({ pair: set.pair, horizon: String(horizon), model_version: champion.version });
        out.push({ topic: TOPICS.predictions.name, key: set.pair, value: prediction });
      }
      return out;
    },
  };
}
