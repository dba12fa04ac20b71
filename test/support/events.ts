/** Valid bus events for tests that need some without a pipeline to make them. */
import { predictionId, type Prediction } from '../../schema/events.ts';

const MINUTE_MS = 60_000;

/** A 1-minute-horizon prediction of `pair` made `minute` minutes after 2024-01-01 00:00 UTC. */
export function samplePrediction(pair: string, minute: number, overrides: Partial<Prediction> = {}): Prediction {
  const madeAt = Date.UTC(2024, 0, 1) + minute * MINUTE_MS;
  return {
    v: 1,
    id: predictionId(pair, 1, madeAt),
    pair,
    horizonMinutes: 1,
    madeAt,
    targetTime: madeAt + MINUTE_MS,
    basePrice: 100,
    predictedLogReturn: 0,
    predictedPrice: 100,
    lowerBound: null,
    upperBound: null,
    modelName: 'tickcast-test-1m',
    modelVersion: '1',
    ...overrides,
  };
}
