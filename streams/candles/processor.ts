/** The candles stream processor: market events in, closed (and live) candles out. */
import { marketEventSchema } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import { rootLogger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { OutboundRecord, StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import { quickMarketEvent } from '../bus/quick-check.ts';
import { tally } from '../bus/tally.ts';
import {
  applyClock,
  applyTrade,
  liveCandles,
  MINUTE_MS,
  validateIntervals,
  type Advanced,
  type CandleConfig,
} from './aggregator.ts';
import { describeTime, eventTimeProblem, type EventTimeLimits } from './event-time.ts';
import { candleStateSchema, initialCandleState, type CandleState } from './window-state.ts';

// Per trade and per candle: tallied per batch (see tally.ts).
const tradesSeen = tally(
  counter('tickcast_candles_trades_total', 'Trades the candles processor received, by outcome', ['pair', 'outcome']),
  ['pair', 'outcome'],
);
const candlesEmitted = tally(
  counter('tickcast_candles_emitted_total', 'Closed candles emitted', ['pair', 'interval', 'flat']),
  ['pair', 'interval', 'flat'],
);
const eventsRejected = counter(
  'tickcast_candles_events_rejected_total',
  'Trades and clocks dead-lettered because their time is implausible, by reason',
  ['pair', 'kind', 'reason'],
);
const gapMinutesSkipped = counter(
  'tickcast_candles_gap_minutes_skipped_total',
  'Minutes closed without a candle because a gap was longer than CANDLE_MAX_GAP_FILL_MINUTES',
  ['pair'],
);

export interface CandlesProcessorOptions extends CandleConfig, EventTimeLimits {
  readonly liveUpdates: boolean;
  /** The wall clock, for the event-time rules (tests pin it). */
  readonly now?: () => number;
}

export function candlesProcessor(options: CandlesProcessorOptions): StatefulProcessor<CandleState> {
  validateIntervals(options.intervals);
  const now = options.now ?? Date.now;
  const log = rootLogger.child({ processor: 'candles' });
  return {
    name: 'candles',
    inputs: [TOPICS.marketEvents.name],
    stateSchema: candleStateSchema,
    initialState: initialCandleState,
    process(state, record) {
      const event = decodeValue(marketEventSchema, record, quickMarketEvent);
      if (event.pair !== state.pair) {
        throw new TickcastError('INVALID_EVENT', `record keyed ${record.key} carries pair ${event.pair}`);
      }
      // Checked before anything touches the state, so a rejected event changes nothing.
      const problem = eventTimeProblem(event, state.eventTime, options, now());
      if (problem) {
        eventsRejected.inc({ pair: event.pair, kind: event.kind, reason: problem.reason });
        throw new TickcastError(problem.code, problem.message);
      }
      let advanced: Advanced;
      if (event.kind === 'trade') {
        try {
          const applied = applyTrade(state, event, options);
          tradesSeen([event.pair, applied.outcome]);
          advanced = applied;
        } catch (error) {
          if (error instanceof TickcastError && error.code === 'LATE_TRADE') tradesSeen([event.pair, 'late']);
          throw error;
        }
      } else {
        advanced = applyClock(state, event, options);
      }
      const { closed, skipped } = advanced;
      if (skipped) {
        const minutes = (skipped.to - skipped.from) / MINUTE_MS;
        gapMinutesSkipped.inc({ pair: event.pair }, minutes);
        log.warn(
          { pair: event.pair, from: describeTime(skipped.from), to: describeTime(skipped.to), minutes },
          `gap longer than ${options.maxGapFillMinutes} minutes: ${minutes} minutes closed without candles`,
        );
      }
      return closed.map((candle): OutboundRecord => {
        candlesEmitted([candle.pair, candle.interval, String(candle.flat)]);
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
