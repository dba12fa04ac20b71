/**
 * Event-time tumbling windows over trades. One-minute windows are built from trades;
 * larger windows (5m, 15m, 1h, ...) are rolled up from closed one-minute candles, so a
 * larger candle is by construction the aggregate of its minutes.
 *
 * A one-minute window closes once the pair's event time (newest trade or clock) has
 * passed its end by the allowed lateness. Trades for a closed window are late:
 * rejected, never silently merged into the wrong candle. A minute without trades
 * closes as a flat candle carrying the previous close, up to `maxGapFillMinutes` of them per
 * event: a feed back after days emits (and holds) a bounded number of candles, and the
 * rest of the gap is skipped, reported in `skipped` for the processor to log and count.
 * Whether an event's time is believable at all is decided before, in event-time.ts.
 *
 * Everything here is pure: the processor owns I/O, metrics and the changelog.
 */
import { intervalMs, type Candle, type Clock, type Interval, type Trade } from '../../schema/events.ts';
import { TickcastError } from '../../lib/errors.ts';
import { QTY_SCALE, type CandleState, type OpenMinute, type Rollup } from './window-state.ts';

export const MINUTE_MS = 60_000;

export interface CandleConfig {
  /** Intervals to emit; each a whole number of minutes. '1m' is always built (the others roll up from it). */
  readonly intervals: readonly Interval[];
  /** How long after a window's end a trade for it is still applied. */
  readonly allowedLatenessMs: number;
  /** Most flat one-minute candles one event may emit for a gap without trades. */
  readonly maxGapFillMinutes: number;
}

export type TradeOutcome = 'applied' | 'duplicate';

/** Minutes [from, to) closed without any candle because the gap exceeded `maxGapFillMinutes`. */
export interface SkippedGap {
  readonly from: number;
  readonly to: number;
}

export interface Advanced {
  /** Candles closed by this event, oldest first, one-minute before the larger windows they close. */
  readonly closed: Candle[];
  readonly skipped: SkippedGap | null;
}

export interface Applied extends Advanced {
  readonly outcome: TradeOutcome;
}

const NOTHING_CLOSED: Advanced = { closed: [], skipped: null };

const floorTo = (time: number, step: number): number => Math.floor(time / step) * step;

/** Sorts trades within a window by event time, then trade id; decides open and close under reordering. */
const before = (a: readonly [number, number], b: readonly [number, number]): boolean =>
  a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

export function validateIntervals(intervals: readonly Interval[]): void {
  for (const interval of intervals) {
    const ms = intervalMs(interval);
    if (ms % MINUTE_MS !== 0) {
      throw new TickcastError('CONFIG_INVALID', `candle interval ${interval} is not a whole number of minutes`);
    }
  }
}

export function applyTrade(state: CandleState, trade: Trade, config: CandleConfig): Applied {
  const minute = floorTo(trade.time, MINUTE_MS);
  if (state.closedUntil !== null && minute < state.closedUntil) {
    // Kraken trade ids grow per pair: an id we have already passed is a re-delivery
    // (e.g. the snapshot after a reconnect), not news from the past.
    if (trade.tradeId <= state.closedMaxTradeId) return { outcome: 'duplicate', ...NOTHING_CLOSED };
    throw new TickcastError(
      'LATE_TRADE',
      `trade ${trade.tradeId} on ${trade.pair} at ${new Date(trade.time).toISOString()} arrived after its minute closed ` +
        `(allowed lateness ${config.allowedLatenessMs} ms)`,
    );
  }
  const window = state.openMinutes.find((w) => w.openTime === minute);
  if (window && trade.tradeId <= window.maxTradeId && window.tradeIds.includes(trade.tradeId)) {
    return { outcome: 'duplicate', ...NOTHING_CLOSED };
  }
  addTrade(state, minute, trade);
  if (state.closedUntil === null) state.closedUntil = floorTo(trade.time - config.allowedLatenessMs, MINUTE_MS);
  return { outcome: 'applied', ...advanceTo(state, trade.time, config) };
}

export function applyClock(state: CandleState, clock: Clock, config: CandleConfig): Advanced {
  // Before the first trade there is no close to carry, so a clock has nothing to close.
  if (state.closedUntil === null) return NOTHING_CLOSED;
  return advanceTo(state, clock.time, config);
}

/** In-progress candles for live charts: the open minutes and the larger windows including them. */
export function liveCandles(state: CandleState, config: CandleConfig): Candle[] {
  const minutes = [...state.openMinutes].sort((a, b) => a.openTime - b.openTime);
  const newest = minutes.at(-1);
  if (!newest) return [];
  const live: Candle[] = [minuteCandle(state.pair, newest, false)];
  for (const interval of rollupIntervals(config)) {
    const ms = intervalMs(interval);
    const start = floorTo(newest.openTime, ms);
    let rollup: Rollup | undefined = state.rollups[interval] ? { ...state.rollups[interval] } : undefined;
    for (const minute of minutes) {
      if (floorTo(minute.openTime, ms) !== start) continue;
      rollup = mergeInto(rollup, minuteCandle(state.pair, minute, false), start);
    }
    if (rollup) live.push(rollupCandle(state.pair, interval, rollup, false));
  }
  return live;
}

function rollupIntervals(config: CandleConfig): Interval[] {
  return config.intervals.filter((i) => intervalMs(i) > MINUTE_MS);
}

function addTrade(state: CandleState, minute: number, trade: Trade): void {
  const at: [number, number] = [trade.time, trade.tradeId];
  const window = state.openMinutes.find((w) => w.openTime === minute);
  if (!window) {
    state.openMinutes.push({
      openTime: minute,
      open: trade.price,
      openAt: at,
      close: trade.price,
      closeAt: at,
      high: trade.price,
      low: trade.price,
      qtyUnits: Math.round(trade.qty * QTY_SCALE),
      quoteVolume: trade.price * trade.qty,
      tradeCount: 1,
      maxTradeId: trade.tradeId,
      tradeIds: [trade.tradeId],
    });
    return;
  }
  if (before(at, window.openAt)) {
    window.open = trade.price;
    window.openAt = at;
  }
  if (!before(at, window.closeAt)) {
    window.close = trade.price;
    window.closeAt = at;
  }
  window.high = Math.max(window.high, trade.price);
  window.low = Math.min(window.low, trade.price);
  window.qtyUnits += Math.round(trade.qty * QTY_SCALE);
  window.quoteVolume += trade.price * trade.qty;
  window.tradeCount += 1;
  window.maxTradeId = Math.max(window.maxTradeId, trade.tradeId);
  window.tradeIds.push(trade.tradeId);
}

/** Closes every one-minute window that ends at or before `time - allowedLateness`. */
function advanceTo(state: CandleState, time: number, config: CandleConfig): Advanced {
  state.eventTime = state.eventTime === null ? time : Math.max(state.eventTime, time);
  const closeUpTo = floorTo(state.eventTime - config.allowedLatenessMs, MINUTE_MS);
  const closed: Candle[] = [];
  if (state.closedUntil === null || closeUpTo <= state.closedUntil) return NOTHING_CLOSED;

  // Jump straight to the first minute that has trades when no close can be carried yet.
  let minute = state.closedUntil;
  if (state.lastClose === null) {
    const first = Math.min(...state.openMinutes.map((w) => w.openTime));
    minute = Math.max(minute, first);
  }
  // Minutes with trades always close (they sit just after the last closed minute: the event
  // that jumps ahead is in a minute still open); flat filling stops maxGapFillMinutes later.
  const lastTraded = Math.max(
    minute,
    ...state.openMinutes.filter((w) => w.openTime < closeUpTo).map((w) => w.openTime + MINUTE_MS),
  );
  const fillUntil = Math.min(closeUpTo, lastTraded + config.maxGapFillMinutes * MINUTE_MS);
  for (; minute < fillUntil; minute += MINUTE_MS) {
    const index = state.openMinutes.findIndex((w) => w.openTime === minute);
    let candle: Candle;
    if (index >= 0) {
      const [window] = state.openMinutes.splice(index, 1) as [OpenMinute];
      candle = minuteCandle(state.pair, window, true);
      state.closedMaxTradeId = Math.max(state.closedMaxTradeId, window.maxTradeId);
    } else if (state.lastClose !== null) {
      candle = flatCandle(state.pair, minute, state.lastClose);
    } else {
      continue;
    }
    state.lastClose = candle.close;
    closed.push(candle, ...rollUp(state, candle, config));
  }
  state.closedUntil = closeUpTo;
  // Rollups need no extra step: the next minute that closes either continues the same
  // window (which then has a hole) or closes it (see rollUp); neither allocates per minute.
  return { closed, skipped: fillUntil < closeUpTo ? { from: fillUntil, to: closeUpTo } : null };
}

function rollUp(state: CandleState, minute: Candle, config: CandleConfig): Candle[] {
  const closed: Candle[] = [];
  for (const interval of rollupIntervals(config)) {
    const ms = intervalMs(interval);
    const start = floorTo(minute.openTime, ms);
    const current = state.rollups[interval];
    // Minutes arrive contiguously, so a rollup of another window can only be one that
    // started before the first trade ever seen, or one a skipped gap left behind; close it
    // rather than mix windows.
    if (current && current.openTime !== start) {
      closed.push(rollupCandle(state.pair, interval, current, true));
      delete state.rollups[interval];
    }
    const rollup = mergeInto(state.rollups[interval], minute, start);
    if (minute.closeTime === start + ms) {
      closed.push(rollupCandle(state.pair, interval, rollup, true));
      delete state.rollups[interval];
    } else {
      state.rollups[interval] = rollup;
    }
  }
  return closed;
}

function mergeInto(rollup: Rollup | undefined, minute: Candle, start: number): Rollup {
  const qtyUnits = Math.round(minute.volume * QTY_SCALE);
  if (!rollup) {
    return {
      openTime: start,
      open: minute.open,
      high: minute.high,
      low: minute.low,
      close: minute.close,
      qtyUnits,
      quoteVolume: minute.quoteVolume,
      tradeCount: minute.tradeCount,
      flat: minute.flat,
    };
  }
  return {
    openTime: rollup.openTime,
    open: rollup.open,
    high: Math.max(rollup.high, minute.high),
    low: Math.min(rollup.low, minute.low),
    close: minute.close,
    qtyUnits: rollup.qtyUnits + qtyUnits,
    quoteVolume: rollup.quoteVolume + minute.quoteVolume,
    tradeCount: rollup.tradeCount + minute.tradeCount,
    flat: rollup.flat && minute.flat,
  };
}

function minuteCandle(pair: string, window: OpenMinute, final: boolean): Candle {
  const volume = window.qtyUnits / QTY_SCALE;
  return {
    v: 1,
    pair,
    interval: '1m',
    openTime: window.openTime,
    closeTime: window.openTime + MINUTE_MS,
    open: window.open,
    high: window.high,
    low: window.low,
    close: window.close,
    volume,
    quoteVolume: window.quoteVolume,
    vwap: volume > 0 ? window.quoteVolume / volume : window.close,
    tradeCount: window.tradeCount,
    flat: false,
    final,
  };
}

function flatCandle(pair: string, openTime: number, price: number): Candle {
  return {
    v: 1,
    pair,
    interval: '1m',
    openTime,
    closeTime: openTime + MINUTE_MS,
    open: price,
    high: price,
    low: price,
    close: price,
    volume: 0,
    quoteVolume: 0,
    vwap: price,
    tradeCount: 0,
    flat: true,
    final: true,
  };
}

function rollupCandle(pair: string, interval: Interval, rollup: Rollup, final: boolean): Candle {
  const volume = rollup.qtyUnits / QTY_SCALE;
  return {
    v: 1,
    pair,
    interval,
    openTime: rollup.openTime,
    closeTime: rollup.openTime + intervalMs(interval),
    open: rollup.open,
    high: rollup.high,
    low: rollup.low,
    close: rollup.close,
    volume,
    quoteVolume: rollup.quoteVolume,
    vwap: volume > 0 ? rollup.quoteVolume / volume : rollup.close,
    tradeCount: rollup.tradeCount,
    flat: rollup.flat,
    final,
  };
}
