/**
 * What the subscriptions benchmark subscribes to and publishes: the operations, the market
 * their entity fetch reads, and the Prediction events.
 */
import type { Prediction } from '../../schema/events.ts';

export const PAIR = 'BTC/USD';
/** The market's last trade price, seeded in the store; a federated event must carry it. */
export const PRICE = 28_000.5;

export const OPERATIONS = {
  /** The dashboard's live feed: the prediction (predictions subgraph) and its market's last trade (markets). */
  federated:
    `subscription { predictionCreated(pair: "${PAIR}") { id madeAt predictedPrice lowerBound upperBound ` +
    `market { pair lastTrade { price } } } }`,
  /** The same without the cross-subgraph field: fan-out alone, no entity fetch per event. */
  primary: `subscription { predictionCreated(pair: "${PAIR}") { id madeAt predictedPrice lowerBound upperBound } }`,
} as const;
export type OperationName = keyof typeof OPERATIONS;
/** The direct probe's subscription to the predictions subgraph. */
export const PROBE_OPERATION = `subscription { predictionCreated(pair: "${PAIR}") { id madeAt } }`;

/** A Prediction made now, to publish. */
export function prediction(id: string): Prediction {
  const madeAt = Date.now();
  return {
    v: 1,
    id,
    pair: PAIR,
    horizonMinutes: 5,
    madeAt,
    targetTime: madeAt + 5 * 60_000,
    basePrice: PRICE,
    predictedLogReturn: 0.0001,
    predictedPrice: PRICE * Math.exp(0.0001),
    lowerBound: PRICE - 120,
    upperBound: PRICE + 120,
    modelName: 'tickcast-btc-usd-5m',
    modelVersion: '1',
  };
}
