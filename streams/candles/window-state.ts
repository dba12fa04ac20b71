/**
 * The per-pair state of the candles processor, as plain JSON so it can be snapshotted
 * to the changelog after every batch and validated when restored.
 */
import { z } from 'zod';

/** Quantities are summed as integers of 1e-8 (Kraken's volume precision), so a candle's volume is exact. */
export const QTY_SCALE = 1e8;

const openMinuteSchema = z.object({
  openTime: z.number(),
  open: z.number(),
  openAt: z.tuple([z.number(), z.number()]),
  close: z.number(),
  closeAt: z.tuple([z.number(), z.number()]),
  high: z.number(),
  low: z.number(),
  qtyUnits: z.number(),
  quoteVolume: z.number(),
  tradeCount: z.number(),
  /** Highest trade id applied, to skip the id scan for in-order trades. */
  maxTradeId: z.number(),
  tradeIds: z.array(z.number()),
});
export type OpenMinute = z.infer<typeof openMinuteSchema>;

/** A larger window being built from closed one-minute candles. */
const rollupSchema = z.object({
  openTime: z.number(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  qtyUnits: z.number(),
  quoteVolume: z.number(),
  tradeCount: z.number(),
  flat: z.boolean(),
});
export type Rollup = z.infer<typeof rollupSchema>;

export const candleStateSchema = z.object({
  pair: z.string(),
  /** Newest event time seen (trade or clock). */
  eventTime: z.number().nullable(),
  /** All one-minute windows ending at or before this are closed and emitted. */
  closedUntil: z.number().nullable(),
  /** Close of the last emitted one-minute candle: what a window without trades carries. */
  lastClose: z.number().nullable(),
  /** Highest trade id in a closed window; a trade for a closed window at or below it is a replay, not a late trade. */
  closedMaxTradeId: z.number(),
  openMinutes: z.array(openMinuteSchema),
  rollups: z.record(z.string(), rollupSchema),
});
export type CandleState = z.infer<typeof candleStateSchema>;

export function initialCandleState(pair: string): CandleState {
  return {
    pair,
    eventTime: null,
    closedUntil: null,
    lastClose: null,
    closedMaxTradeId: -1,
    openMinutes: [],
    rollups: {},
  };
}
