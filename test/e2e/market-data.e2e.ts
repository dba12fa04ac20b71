/**
 * A full real day of Kraken BTC/USD minutes, replayed as trades through real Kafka and
 * the candles, indicators and store-writer processors into PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS } from '../../schema/topics.ts';
import { INDICATOR_NAMES } from '../../schema/indicators.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import { BTC_CANDLES, FULL_DAY } from '../support/data.ts';
import { countRows, loadDay, loadInputMinutes, minuteMismatches, rollupMismatches } from '../support/market-data.ts';
import { isolate, waitFor, type Isolation } from '../support/services.ts';
import { startAllProcessors } from '../support/pipeline.ts';
import { historyFromStore } from '../../training/history.ts';

const PAIR = 'BTC/USD';
const EXPECTED = { '1m': 1440, '5m': 288, '15m': 96, '1h': 24 } as const;

describe('market data pipeline on Kafka and PostgreSQL', () => {
  let iso: Isolation;
  let bus: Bus;
  let tasks: RunningTask[] = [];

  before(async () => {
    iso = await isolate('day');
    ({ bus, tasks } = await startAllProcessors(iso));
    const rows = await loadDay(BTC_CANDLES, FULL_DAY);
    assert.equal(rows.length, 1440);
    await loadInputMinutes(iso.pool, rows);
    const replayed = await replayCandles(
      rows,
      (events) => bus.publish(events.map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value }))),
      { pair: PAIR, speed: 0 },
    );
    assert.equal(
      replayed.trades,
      rows.reduce((sum, r) => sum + r.count, 0),
      'one trade per trade the minutes counted',
    );
    await waitFor(
      'every candle and indicator set of the day in PostgreSQL',
      async () =>
        (await countRows(iso.pool, 'indicators')) >= 1848 &&
        (await countRows(iso.pool, 'candles')) >= 1848 &&
        (await iso.pool.query('SELECT count(*)::int AS n FROM trades')).rows[0].n >= replayed.trades,
      240_000,
      500,
    );
  });

  after(async () => {
    for (const task of tasks) await task.stop();
    await bus?.close();
    await iso?.close();
  });

  it('stores exactly one candle per window for each interval', async () => {
    for (const [interval, expected] of Object.entries(EXPECTED)) {
      assert.equal(await countRows(iso.pool, 'candles', interval), expected, interval);
      assert.equal(await countRows(iso.pool, 'indicators', interval), expected, `indicators ${interval}`);
    }
  });

  it('stores every replayed trade once', async () => {
    const { rows } = await iso.pool.query<{ n: number; volume: number }>(
      `SELECT count(*)::int AS n, sum(qty) AS volume FROM trades WHERE pair = $1`,
      [PAIR],
    );
    const input = await iso.pool.query<{ n: number; volume: number }>(
      'SELECT sum(trade_count)::int AS n, sum(volume) AS volume FROM input_minutes',
    );
    assert.deepEqual(rows[0], input.rows[0]);
  });

  it('1m candles equal the input candles: open, high, low, close, volume, trade count, flat', async () => {
    assert.deepEqual(await minuteMismatches(iso.pool, PAIR), []);
  });

  for (const interval of ['5m', '15m', '1h']) {
    it(`${interval} candles equal an independent SQL aggregation of the same minutes`, async () => {
      assert.deepEqual(await rollupMismatches(iso.pool, PAIR, interval), []);
    });
  }

  it('training reads the same history back from the feature store', async () => {
    const series = await historyFromStore(iso.pool, PAIR);
    assert.equal(series.length, 1440);
    const rows = await loadDay(BTC_CANDLES, FULL_DAY);
    assert.deepEqual(
      series.map((p) => [p.openTime, p.close]),
      rows.map((r) => [r.time, r.close]),
    );
  });

  it('indicators are warm by the end of the day and finite', async () => {
    const { rows } = await iso.pool.query(`SELECT * FROM latest_features WHERE pair = $1 AND interval = '1m'`, [PAIR]);
    assert.equal(rows.length, 1);
    for (const name of INDICATOR_NAMES) {
      const value = rows[0][name];
      assert.ok(typeof value === 'number' && Number.isFinite(value), `${name} = ${value}`);
    }
    assert.equal(new Date(rows[0].open_time).getTime(), FULL_DAY.to - 60_000);
  });
});
