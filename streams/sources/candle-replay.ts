/**
 * Replays one-minute candles as trades that reproduce each minute exactly: the first
 * trade is the open, the last the close, the high and low both trade, the trade count
 * is the candle's count and the quantities add up to its volume to the last 1e-8.
 * Fill trades sit at the candle's VWAP (clamped to the range) so the replayed VWAP
 * stays close to the original. A minute with no trades replays as no trades: the
 * candles processor then emits the flat candle Kraken itself reported.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock, MarketEvent, Trade } from '../../schema/events.ts';
import { QTY_SCALE } from '../candles/window-state.ts';
import type { OhlcMinute } from '../../lib/candle-csv.ts';
import { gapClocks } from './clocks.ts';

const MINUTE_MS = 60_000;

/** Trade ids are derived from the minute so re-running a replay produces the same ids. */
export const TRADE_IDS_PER_MINUTE = 100_000;

export function tradesForMinute(pair: string, row: OhlcMinute): Trade[] {
  const prices = pricePath(row);
  const units = volumeUnits(row.volume);
  if (prices.length === 0 || units === 0) return [];
  // Every trade needs a positive quantity: a minute with fewer volume units than
  // trades (never seen in the Kraken files) replays with fewer trades.
  const count = Math.min(prices.length, units);
  const path = count < prices.length ? [prices[0]!, ...prices.slice(prices.length - count + 1)] : prices;
  const base = Math.floor(units / count);
  const firstTradeId = (row.time / MINUTE_MS) * TRADE_IDS_PER_MINUTE;
  return path.map((price, i) => ({
    v: 1,
    kind: 'trade',
    pair,
    tradeId: firstTradeId + i,
    price,
    qty: (i === count - 1 ? units - base * (count - 1) : base) / QTY_SCALE,
    side: null,
    time: row.time + Math.floor((i * MINUTE_MS) / count),
    source: 'replay-candles',
  }));
}

/** Open first, close last, high and low in between, fills at VWAP; as many prices as the minute had trades (at least the distinct O/H/L/C needed). */
function pricePath(row: OhlcMinute): number[] {
  if (row.count === 0) return [];
  const middle: number[] = [];
  if (row.high !== row.open && row.high !== row.close) middle.push(row.high);
  if (row.low !== row.open && row.low !== row.close && row.low !== row.high) middle.push(row.low);
  const fixed = row.open === row.close && middle.length === 0 ? 1 : 2 + middle.length;
  const fill = Math.min(Math.max(row.vwap, row.low), row.high);
  const fills = Array.from({ length: Math.max(0, row.count - fixed) }, () => fill);
  if (fixed === 1) return [row.open, ...fills];
  return [row.open, ...middle, ...fills, row.close];
}

/** Exact for quantities of at most 8 decimals: the rounding error of volume * 1e8 is far below half a unit. */
function volumeUnits(volume: number): number {
  return Math.round(volume * QTY_SCALE);
}

export interface ReplayOptions {
  readonly pair: string;
  /** 0 replays as fast as the sink accepts; N replays N times faster than real time. */
  readonly speed: number;
  /**
   * The first this many minutes of this run (after any resume point) go as fast as the sink
   * accepts, the rest at `speed`: history first, as a live service backfills before it
   * streams, so the indicators' windows are full when paced trading starts.
   */
  readonly catchUpMinutes?: number;
  /** Events handed to the sink per call when replaying as fast as possible. */
  readonly batchSize?: number;
  readonly signal?: AbortSignal;
  readonly onMinute?: (row: OhlcMinute) => void;
  /** Resume after this minute (its open time, from a saved position): earlier rows are skipped. */
  readonly resumeAfter?: number;
  /**
   * Called once the sink has acknowledged every event of the minutes up to `minute` (open
   * time), with nothing of a later minute still unacknowledged before it: a position to
   * resume after. Whole minutes only, so a resumed replay never sends half a minute.
   */
  readonly onAcknowledged?: (minute: number) => Promise<void>;
}

/**
 * Streams the replay into `sink`. Ends with a clock one minute past the last candle so
 * its window closes. Quiet minutes get a clock at their end so charts do not stall, and
 * so do minutes missing from the file (see clocks.ts). With `resumeAfter` it continues
 * after a saved position (replay-position.ts).
 */
export async function replayCandles(
  rows: AsyncIterable<OhlcMinute> | Iterable<OhlcMinute>,
  sink: (events: MarketEvent[]) => Promise<void>,
  options: ReplayOptions,
): Promise<{ minutes: number; trades: number }> {
  const batchSize = options.batchSize ?? 2_000;
  let pending: MarketEvent[] = [];
  let minutes = 0;
  let trades = 0;
  const resumeAfter = options.resumeAfter;
  // Gap clocks continue from the resumed minute as if the replay had never stopped.
  let lastEnd: number | null = resumeAfter === undefined ? null : resumeAfter + MINUTE_MS;
  let startedAt: { wall: number; event: number } | null = null;
  /** The newest minute whose events are all in `pending` or already sent. */
  let completeMinute: number | null = null;

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    const upTo = completeMinute;
    pending = [];
    await sink(batch);
    if (upTo !== null) await options.onAcknowledged?.(upTo);
  };

  const catchUpMinutes = options.catchUpMinutes ?? 0;
  for await (const row of rows) {
    if (options.signal?.aborted) break;
    if (resumeAfter !== undefined && row.time <= resumeAfter) continue;
    const paced = options.speed > 0 && minutes >= catchUpMinutes;
    if (paced) {
      startedAt ??= { wall: Date.now(), event: row.time };
      const due = startedAt.wall + (row.time - startedAt.event) / options.speed;
      await flush();
      await sleepUntil(due, options.signal);
    }
    if (lastEnd !== null) {
      for (const clock of gapClocks(options.pair, 'replay-candles', lastEnd, row.time)) {
        pending.push(clock);
        if (pending.length >= batchSize) await flush();
      }
    }
    const minuteTrades = tradesForMinute(options.pair, row);
    pending.push(...minuteTrades);
    if (minuteTrades.length === 0) pending.push(clockAt(options.pair, row.time + MINUTE_MS));
    trades += minuteTrades.length;
    minutes += 1;
    lastEnd = row.time + MINUTE_MS;
    completeMinute = row.time;
    options.onMinute?.(row);
    if (paced || pending.length >= batchSize) await flush();
  }
  // Only a replay that reached the end closes its last window: a stopped one resumes there,
  // and a clock past it would close minutes whose trades are still to come.
  if (lastEnd !== null && options.signal?.aborted !== true) pending.push(clockAt(options.pair, lastEnd + MINUTE_MS));
  await flush();
  return { minutes, trades };
}

function clockAt(pair: string, time: number): Clock {
  return { v: 1, kind: 'clock', pair, time, source: 'replay-candles' };
}

/** Waits until `due` or until aborted; the timer removes its abort listener (one per minute added up over a long replay). */
async function sleepUntil(due: number, signal: AbortSignal | undefined): Promise<void> {
  const wait = due - Date.now();
  if (wait <= 0 || signal?.aborted) return;
  await sleep(wait, undefined, { signal }).catch((error: unknown) => {
    if ((error as { name?: unknown }).name !== 'AbortError') throw error;
  });
}
