/**
 * The sentiment features processor: SentimentSignals (keyed by coin) in, the coin's
 * rolling 1h/4h/24h features out (keyed by coin|window) as of every article the signal
 * changes (its own, and those published after it when it arrives late). Stateful per coin
 * with exactly-once output on Kafka; the stored features do not depend on arrival order.
 */
import { sentimentSignalSchema } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { counter } from '../../lib/metrics.ts';
import type { StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import {
  addSignal,
  coinWindowStateSchema,
  featuresFrom,
  initialCoinWindowState,
  type CoinWindowState,
} from './rolling.ts';

const lateSignals = counter(
  'tickcast_sentiment_late_signals_total',
  "Signals more than ALLOWED_LATENESS (7 days) behind their coin's newest article, left out of the features",
);

export const FEATURES_NAME = 'sentiment-features';

export function sentimentFeaturesProcessor(): StatefulProcessor<CoinWindowState> {
  return {
    name: FEATURES_NAME,
    inputs: [TOPICS.sentimentSignals.name],
    stateSchema: coinWindowStateSchema,
    initialState: initialCoinWindowState,
    process(state, record) {
      const signal = decodeValue(sentimentSignalSchema, record);
      if (!addSignal(state, signal)) {
        lateSignals.inc();
        return [];
      }
      return featuresFrom(state, signal.coin, signal.publishedAt).map((f) => ({
        topic: TOPICS.sentimentFeatures.name,
        key: `${f.coin}|${f.window}`,
        value: f,
      }));
    },
  };
}
