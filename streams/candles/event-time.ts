/**
 * Event-time sanity: whether a market event's time is believable before it may touch a
 * pair's state. One mis-stamped event would otherwise move the pair's event time (its
 * watermark) forward for good: a trade 30 days ahead closes 43,200 minutes as flat
 * candles and makes every real trade after it late; one from year 2100 never finishes.
 *
 * Three rules, for trades and clocks alike:
 *  - nothing is older than Bitcoin (the schema allows any non-negative time);
 *  - nothing is more than `maxAheadMs` ahead of the wall clock: catches year 2100 whatever
 *    the source, live or replay;
 *  - nothing is more than `maxJumpMs` ahead of the pair's event time: catches "30 days
 *    ahead" while a replay of 2023 runs, which the wall clock cannot. Sources advance the
 *    event time through quiet periods with clocks, and the replays step them one minute at
 *    a time through the gaps of their files (streams/sources/clocks.ts), so a real gap
 *    arrives in steps. Two kinds of source cannot, and may jump (see `mayJump`): a live
 *    feed back after an outage (Kraken WS, the simulator: only to near the wall clock) and
 *    a Kraken REST backfill, whose range the operator chose explicitly. The gap-fill bound
 *    in aggregator.ts caps what such a jump emits.
 * A backfill of the past is below the event time, so the jump rule never applies to it:
 * its trades are late or duplicates as before.
 *
 * Pure: the processor passes the wall clock, counts and dead-letters.
 */
import type { ErrorCode } from '../../lib/errors.ts';
import type { MarketEvent } from '../../schema/events.ts';

/** Bitcoin's genesis block, 2009-01-03: no crypto market event can be older. */
export const EARLIEST_EVENT_TIME = Date.UTC(2009, 0, 3);

export interface EventTimeLimits {
  /** How far ahead of the wall clock an event may be stamped (clock skew between hosts). */
  readonly maxAheadMs: number;
  /** How far ahead of its pair's event time an event may be stamped. */
  readonly maxJumpMs: number;
}

/** The metric label of a rejection. */
export type TimeRejection = 'before_2009' | 'ahead_of_wall_clock' | 'ahead_of_event_time';

export interface TimeProblem {
  readonly code: ErrorCode;
  readonly reason: TimeRejection;
  readonly message: string;
}

/** Whether `event` may be further than `maxJumpMs` ahead of its pair's event time. */
function mayJump(event: MarketEvent, limits: EventTimeLimits, now: number): boolean {
  switch (event.source) {
    case 'kraken-ws':
    case 'simulated':
      // Live sources stamp events as they happen: after an outage they resume near now.
      return event.time >= now - limits.maxJumpMs;
    case 'kraken-rest':
      // `tickcast backfill trades --from` starts where the operator asked, however far that is.
      return true;
    case 'replay-candles':
    case 'replay-recording':
      return false;
  }
}

/** ISO time when the value is a representable date, else the raw number (1e300 is an int to zod). */
export function describeTime(time: number): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? `${time} ms` : date.toISOString();
}

/**
 * "trade 7 on BTC/USD at <time>", for a rejection's message only: formatting dates for every
 * accepted trade was a measurable part of the candles processor's time.
 */
function describeEvent(event: MarketEvent): string {
  const what = event.kind === 'trade' ? `trade ${event.tradeId} on ${event.pair}` : `clock for ${event.pair}`;
  return `${what} at ${describeTime(event.time)}`;
}

/**
 * Why `event` must not be applied, or null when its time is plausible.
 * `eventTime` is the pair's watermark (null before its first trade), `now` the wall clock.
 */
export function eventTimeProblem(
  event: MarketEvent,
  eventTime: number | null,
  limits: EventTimeLimits,
  now: number,
): TimeProblem | null {
  if (event.time < EARLIEST_EVENT_TIME) {
    return {
      code: 'IMPLAUSIBLE_TIME',
      reason: 'before_2009',
      message: `${describeEvent(event)} is older than any crypto market (${describeTime(EARLIEST_EVENT_TIME)})`,
    };
  }
  if (event.time > now + limits.maxAheadMs) {
    return {
      code: 'FUTURE_EVENT',
      reason: 'ahead_of_wall_clock',
      message: `${describeEvent(event)} is more than ${limits.maxAheadMs} ms ahead of the wall clock (${describeTime(now)})`,
    };
  }
  if (eventTime !== null && event.time > eventTime + limits.maxJumpMs && !mayJump(event, limits, now)) {
    return {
      code: 'FUTURE_EVENT',
      reason: 'ahead_of_event_time',
      message:
        `${describeEvent(event)} is more than ${limits.maxJumpMs} ms ahead of the pair's event time ` +
        `(${describeTime(eventTime)}); a quiet period must be stepped through with clocks`,
    };
  }
  return null;
}
