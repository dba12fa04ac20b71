/**
 * The feature store writer: trades, candles and indicator sets from the bus into the store.
 * At-least-once delivery plus upserts keyed by (pair, interval, open_time) make the
 * store exactly the set of records on the topics, whatever is re-delivered.
 *
 * Raw trades pass the candles processor's event-time rules (streams/candles/event-time.ts)
 * before they are stored: a trade stamped in year 2100 that the candles processor
 * dead-letters must not become a market's `lastTrade` either. The writer follows each
 * pair's event time from the same topic (trades and clocks), starting from the newest
 * stored trade; a refused trade is skipped and counted (its dead letter is the candles
 * processor's).
 */
import type pg from 'pg';
import {
  candleSchema,
  indicatorSetSchema,
  marketEventSchema,
  type Candle,
  type IndicatorSet,
  type MarketEvent,
  type Trade,
} from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { Bus, InboundRecord, RunningTask } from '../bus/bus.ts';
import { takeOrDeadLetter } from '../bus/batch.ts';
import { decodeValue } from '../bus/codec.ts';
import { eventTimeProblem, type EventTimeLimits } from '../candles/event-time.ts';
import { insertTrades, upsertCandles, upsertIndicators } from './feature-store.ts';

const rowsWritten = counter('tickcast_store_rows_written_total', 'Rows upserted into the feature store', ['table']);
const tradesSkipped = counter(
  'tickcast_store_trades_skipped_total',
  'Trades not stored because their time is implausible (the candles processor dead-letters them)',
  ['reason'],
);

export interface StoreWriterOptions extends EventTimeLimits {
  /** Wall clock (tests). */
  readonly now?: () => number;
}

/** Each pair's event time as the writer has seen it, seeded from the newest stored trade. */
class PairEventTimes {
  private readonly times = new Map<string, number | null>();

  constructor(private readonly pool: pg.Pool) {}

  async of(pair: string): Promise<number | null> {
    if (!this.times.has(pair)) {
      const { rows } = await this.pool.query<{ ms: string | null }>(
        'SELECT (EXTRACT(EPOCH FROM max(time)) * 1000)::BIGINT AS ms FROM trades WHERE pair = $1',
        [pair],
      );
      this.times.set(pair, rows[0]?.ms == null ? null : Number(rows[0].ms));
    }
    return this.times.get(pair) ?? null;
  }

  advance(pair: string, time: number): void {
    this.times.set(pair, Math.max(this.times.get(pair) ?? time, time));
  }
}

export async function startStoreWriter(
  bus: Bus,
  pool: pg.Pool,
  logger: Logger,
  options: StoreWriterOptions,
): Promise<RunningTask> {
  const log = logger.child({ processor: 'store-writer' });
  const now = options.now ?? Date.now;
  const eventTimes = new PairEventTimes(pool);
  return bus.consume({
    groupId: 'store-writer',
    topics: [TOPICS.marketEvents.name, TOPICS.candles.name, TOPICS.indicators.name],
    fromBeginning: true,
    handler: async (records) => {
      const candles: Candle[] = [];
      const sets: IndicatorSet[] = [];
      const trades: Trade[] = [];
      const events: MarketEvent[] = [];
      const rejected = takeOrDeadLetter('store-writer', records, log, (record) => {
        if (record.topic === TOPICS.candles.name) candles.push(decodeValue(candleSchema, record));
        else if (record.topic === TOPICS.indicators.name) sets.push(decodeValue(indicatorSetSchema, record));
        else events.push(decodeValue(marketEventSchema, record));
      });
      for (const event of events) {
        const problem = eventTimeProblem(event, await eventTimes.of(event.pair), options, now());
        if (problem) {
          tradesSkipped.inc({ reason: problem.reason });
          continue;
        }
        eventTimes.advance(event.pair, event.time);
        if (event.kind === 'trade') trades.push(event);
      }
      // A failed write rejects the batch: it is retried from the last committed offset.
      await withStoreErrors(() => upsertCandles(pool, candles), records);
      await withStoreErrors(() => upsertIndicators(pool, sets), records);
      await withStoreErrors(() => insertTrades(pool, trades), records);
      if (rejected.length > 0) await bus.publish(rejected);
      rowsWritten.inc({ table: 'candles' }, candles.length);
      rowsWritten.inc({ table: 'indicators' }, sets.length);
      rowsWritten.inc({ table: 'trades' }, trades.length);
    },
  });
}

async function withStoreErrors(write: () => Promise<void>, records: readonly InboundRecord[]): Promise<void> {
  try {
    await write();
  } catch (cause) {
    const first = records[0];
    throw new TickcastError(
      'STORE_UNAVAILABLE',
      `feature store write failed for ${first?.topic}@${first?.partition}:${first?.offset}+${records.length}: ${(cause as Error).message}`,
      { cause },
    );
  }
}
