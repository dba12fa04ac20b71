/** The candles stream processor: market events in, closed (and live) candles out. */
import { marketEventSchema } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import { counter } from '../../lib/metrics.ts';
import type { OutboundRecord, StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import { applyClock, applyTrade, liveCandles, validateIntervals, type CandleConfig } from './aggregator.ts';
import { candleStateSchema, initialCandleState, type CandleState } from './window-state.ts';

const tradesSeen = counter('tickcast_candles_trades_total', 'Trades the candles processor received, by outcome', [
  'pair',
  'outcome',
]);
const candlesEmitted = counter('tickcast_candles_emitted_total', 'Closed candles emitted', [
  'pair',
  'interval',
  'flat',
]);

export interface CandlesProcessorOptions extends CandleConfig {
  readonly liveUpdates: boolean;
}

export function candlesProcessor(options: CandlesProcessorOptions): StatefulProcessor<CandleState> {
  validateIntervals(options.intervals);
  return {
    name: 'candles',
    inputs: [TOPICS.marketEvents.name],
    stateSchema: candleStateSchema,
    initialState: initialCandleState,
    process(state, record) {
      const event = decodeValue(marketEventSchema, record);
      if (event.pair !== state.pair) {
        throw new TickcastError('INVALID_EVENT', `record keyed ${record.key} carries pair ${event.pair}`);
      }
      let closed;
      if (event.kind === 'trade') {
        try {
          const applied = applyTrade(state, event, options);
          tradesSeen.inc({ pair: event.pair, outcome: applied.outcome });
          closed = applied.closed;
        } catch (error) {
          if (error instanceof TickcastError && error.code === 'LATE_TRADE')
            tradesSeen.inc({ pair: event.pair, outcome: 'late' });
          throw error;
        }
      } else {
        closed = applyClock(state, event, options);
      }
      return closed.map((candle): OutboundRecord => {
        candlesEmitted.inc({ pair: candle.pair, interval: candle.interval, flat: String(candle.flat) });
        return { topic: TOPICS.candles.name, key: candle.pair, value: candle };
      });
    },
    afterBatch(changed) {
      if (!options.liveUpdates) return [];
      return [...changed.values()].flatMap((state) =>
        liveCandles(state, options).map((candle) => ({
          topic: TOPICS.candlesLive.name,
          key: `${candle.pair}|${candle.interval}`,
          value: candle,
        })),
      );
    },
  };
}
