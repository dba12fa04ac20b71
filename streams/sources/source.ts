/**
 * The contract every trade source (live WebSocket, REST backfill, replays, simulators)
 * implements. A source pushes batches of market events into a sink and awaits it, so a
 * slow consumer (the bus) slows the source down instead of letting memory grow.
 */
import type { MarketEvent, TradeSource as TradeSourceName } from '../../schema/events.ts';

export type { TradeSourceName };

/**
 * Receives a batch of events in order. The source awaits the returned promise before it
 * delivers the next batch (back-pressure). A rejection stops the source: `start()` rejects
 * with that error.
 */
export interface MarketSink {
  (events: MarketEvent[]): Promise<void>;
}

export interface TradeSource {
  readonly name: TradeSourceName;
  /**
   * Runs the source, delivering events to `sink`. Resolves when the source has finished
   * (a bounded backfill) or when `signal` is aborted; after it resolves the sink is not
   * called again. Rejects only on an error the source cannot recover from.
   */
  start(sink: MarketSink, signal: AbortSignal): Promise<void>;
}
