/**
 * The feature store writer: trades, candles and indicator sets from the bus into the store.
 * At-least-once delivery plus upserts keyed by (pair, interval, open_time) make the
 * store exactly the set of records on the topics, whatever is re-delivered.
 */
import type pg from 'pg';
import {
  candleSchema,
  indicatorSetSchema,
  marketEventSchema,
  type Candle,
  type IndicatorSet,
  type Trade,
} from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter } from '../../lib/metrics.ts';
import type { Bus, InboundRecord, RunningTask } from '../bus/bus.ts';
import { takeOrDeadLetter } from '../bus/batch.ts';
import { decodeValue } from '../bus/codec.ts';
import { insertTrades, upsertCandles, upsertIndicators } from './feature-store.ts';

const rowsWritten = counter('tickcast_store_rows_written_total', 'Rows upserted into the feature store', ['table']);

export async function startStoreWriter(bus: Bus, pool: pg.Pool, logger: Logger): Promise<RunningTask> {
  const log = logger.child({ processor: 'store-writer' });
  return bus.consume({
    groupId: 'store-writer',
    topics: [TOPICS.marketEvents.name, TOPICS.candles.name, TOPICS.indicators.name],
    fromBeginning: true,
    handler: async (records) => {
      const candles: Candle[] = [];
      const sets: IndicatorSet[] = [];
      const trades: Trade[] = [];
      const rejected = takeOrDeadLetter('store-writer', records, log, (record) => {
        if (record.topic === TOPICS.candles.name) candles.push(decodeValue(candleSchema, record));
        else if (record.topic === TOPICS.indicators.name) sets.push(decodeValue(indicatorSetSchema, record));
        else {
          const event = decodeValue(marketEventSchema, record);
          if (event.kind === 'trade') trades.push(event);
        }
      });
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
