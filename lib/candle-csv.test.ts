import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCandleCsv, toKrakenCsv } from './candle-csv.ts';
import { BTC_CANDLES, requireData } from '../test/support/data.ts';
import { TickcastError } from './errors.ts';

describe('Kraken candle CSV', () => {
  it('round-trips the real data through write and read', async () => {
    const rows = (await loadCandleCsv(requireData(BTC_CANDLES))).slice(0, 500);
    const dir = await mkdtemp(join(tmpdir(), 'tickcast-csv-'));
    await writeFile(join(dir, 'a.csv'), toKrakenCsv(rows));
    assert.deepEqual(await loadCandleCsv(join(dir, 'a.csv')), rows);
    assert.equal(rows[0]?.time, Date.UTC(2023, 3, 3, 12, 1));
    assert.equal(rows[0]?.volume, 3.96893978);
  });

  it('rejects a file that is not a Kraken export, and a broken row with its line number', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tickcast-csv-'));
    await writeFile(join(dir, 'x.csv'), 'time,price\n1,2\n');
    await assert.rejects(
      loadCandleCsv(join(dir, 'x.csv')),
      (e: unknown) => e instanceof TickcastError && /not a Kraken OHLC export/.test(e.message),
    );
    await writeFile(
      join(dir, 'y.csv'),
      'dtime,time,open,high,low,close,vwap,volume,count\n2023-04-03 12:01:00,1680523260,NaN,1,1,1,1,1,1\n',
    );
    await assert.rejects(
      loadCandleCsv(join(dir, 'y.csv')),
      (e: unknown) => e instanceof TickcastError && /y\.csv:2: cannot parse/.test(e.message),
    );
  });
});
