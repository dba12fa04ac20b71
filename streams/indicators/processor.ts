/**
 * The indicators stream processor: closed candles in, one IndicatorSet per candle out,
 * per pair and interval. Indicator state lives in the processor's changelog, so a
 * restart continues every average exactly where the last committed batch left it.
 */
import { z } from 'zod';
import { candleSchema, type IndicatorSet } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import { counter } from '../../lib/metrics.ts';
import type { StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import { quickCandle } from '../bus/quick-check.ts';
import { tally } from '../bus/tally.ts';
import {
  createIndicatorState,
  indicatorStateSchema,
  isNewCandle,
  updateIndicators,
} from '../../lib/indicators/engine.ts';

// Per candle: tallied per batch (see tally.ts).
const candlesSeen = tally(
  counter('tickcast_indicators_candles_total', 'Candles the indicators processor received, by outcome', [
    'pair',
    'interval',
    'outcome',
  ]),
  ['pair', 'interval', 'outcome'],
);

const pairStateSchema = z.object({
  pair: z.string(),
  byInterval: z.record(z.string(), indicatorStateSchema),
});
export type PairIndicatorState = z.infer<typeof pairStateSchema>;

export function indicatorsProcessor(): StatefulProcessor<PairIndicatorState> {
  return {
    name: 'indicators',
    inputs: [TOPICS.candles.name],
    stateSchema: pairStateSchema,
    initialState: (pair) => ({ pair, byInterval: {} }),
    process(state, record) {
      const candle = decodeValue(candleSchema, record, quickCandle);
      if (candle.pair !== state.pair) {
        throw new TickcastError('INVALID_EVENT', `record keyed ${record.key} carries pair ${candle.pair}`);
      }
      if (!candle.final) throw new TickcastError('INVALID_EVENT', 'in-progress candle on the closed-candles topic');
      const indicators = (state.byInterval[candle.interval] ??= createIndicatorState());
      if (!isNewCandle(indicators, candle.openTime)) {
        // Candles are published exactly once, so this is a producer replaying history: skip, count.
        candlesSeen([candle.pair, candle.interval, 'duplicate']);
        return [];
      }
      const set: IndicatorSet = {
        v: 1,
        pair: candle.pair,
        interval: candle.interval,
        openTime: candle.openTime,
        close: candle.close,
        values: updateIndicators(indicators, candle),
      };
      candlesSeen([candle.pair, candle.interval, 'applied']);
      return [{ topic: TOPICS.indicators.name, key: candle.pair, value: set }];
    },
  };
}
