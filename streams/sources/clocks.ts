/**
 * Clocks that step a replay through a gap in its file. The candles processor rejects an
 * event more than CANDLE_MAX_JUMP_MS (at least a minute) ahead of its pair's event time
 * (streams/candles/event-time.ts), so a replay whose next event lies beyond a gap (the
 * Kraken candle files miss 2,903 minutes after 2023-04-11 02:59; a recording misses the
 * time its recorder was disconnected) first states, a minute at a time, that nothing
 * came in between. That is what the file says, and it is what the processor would have
 * concluded from the next event anyway: the same flat candles as before the jump rule.
 */
import type { Clock, TradeSource } from '../../schema/events.ts';

const MINUTE_MS = 60_000;

/** A clock at every minute boundary after `from` up to and including `to`, oldest first. */
export function* gapClocks(pair: string, source: TradeSource, from: number, to: number): Generator<Clock> {
  for (let time = Math.floor(from / MINUTE_MS) * MINUTE_MS + MINUTE_MS; time <= to; time += MINUTE_MS) {
    yield { v: 1, kind: 'clock', pair, time, source };
  }
}
