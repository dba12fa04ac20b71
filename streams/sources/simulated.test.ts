import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MarketEvent } from '../../schema/events.ts';
import { marketEventSchema } from '../../schema/events.ts';
import { applyClock, applyTrade } from '../candles/aggregator.ts';
import { initialCandleState } from '../candles/window-state.ts';
import { SimulatedMarket } from './simulated.ts';

async function collect(seed: number): Promise<MarketEvent[]> {
  const events: MarketEvent[] = [];
  const market = new SimulatedMarket({
    pairs: ['BTC/USD', 'ETH/USD'],
    tradesPerSecond: 40,
    volatility: 0.001,
    seed,
    maxTrades: 30,
  });
  await market.start(async (batch) => void events.push(...batch), new AbortController().signal);
  return events;
}

describe('simulated market', () => {
  it('produces valid, labelled trades with increasing ids per pair and clocks', async () => {
    const events = await collect(7);
    for (const event of events) {
      assert.ok(marketEventSchema.safeParse(event).success);
      assert.equal(event.source, 'simulated');
    }
    const trades = events.filter((e) => e.kind === 'trade');
    assert.ok(trades.length >= 30);
    for (const pair of ['BTC/USD', 'ETH/USD']) {
      const ids = trades.filter((t) => t.pair === pair).map((t) => t.tradeId);
      // Minute × 100,000 + sequence: increasing, and above any earlier run's ids.
      ids.forEach((id, i) => assert.ok(i === 0 || id > ids[i - 1]!, `ids ${ids.join()}`));
      const first = trades.find((t) => t.pair === pair)!;
      assert.ok(ids[0]! >= Math.floor(first.time / 60_000) * 100_000, `first id ${ids[0]}`);
    }
    assert.ok(events.some((e) => e.kind === 'clock'));
    const btc = trades.find((t) => t.pair === 'BTC/USD');
    assert.ok(btc && btc.price > 20_000 && btc.price < 40_000, 'starts near a plausible BTC price');
  });

  it('warm-up: plays the simulated past after what is stored, up to the current minute, then trades live above its ids', async () => {
    const now = Date.UTC(2026, 0, 5, 12, 30, 20);
    const stored = Date.UTC(2026, 0, 5, 12, 0); // newest stored candle of BTC/USD; none for ETH/USD
    const events: MarketEvent[] = [];
    const market = new SimulatedMarket({
      pairs: ['BTC/USD', 'ETH/USD'],
      tradesPerSecond: 40,
      volatility: 0.001,
      seed: 3,
      maxTrades: 10,
      now: () => now,
      warmUp: { minutes: 60, storedThrough: async (pair) => (pair === 'BTC/USD' ? stored : null) },
    });
    await market.start(async (batch) => void events.push(...batch), new AbortController().signal);
    const minuteOf = (time: number) => Math.floor(time / 60_000) * 60_000;
    for (const [pair, firstMinute] of [
      ['BTC/USD', stored + 60_000],
      ['ETH/USD', Date.UTC(2026, 0, 5, 11, 29)],
    ] as const) {
      const past = events.filter((e) => e.kind === 'trade' && e.pair === pair && e.time < now);
      const minutes = [...new Set(past.map((e) => minuteOf(e.time)))];
      // From the minute after the stored one (or 60 minutes back) to two minutes before now's.
      assert.equal(minutes[0], firstMinute, pair);
      assert.equal(minutes[minutes.length - 1], Date.UTC(2026, 0, 5, 12, 28), pair);
      assert.equal(minutes.length, (Date.UTC(2026, 0, 5, 12, 28) - firstMinute) / 60_000 + 1, pair);
      assert.ok(past.every((e) => e.source === 'simulated'));
      assert.ok(
        events.some((e) => e.kind === 'trade' && e.pair === pair && e.time === now),
        `${pair} trades live`,
      );
    }
    // Through the candles aggregator: no trade is refused as late or taken for a duplicate.
    const config = { intervals: ['1m'], allowedLatenessMs: 2_000, maxGapFillMinutes: 1_000 };
    for (const pair of ['BTC/USD', 'ETH/USD']) {
      const state = initialCandleState(pair);
      for (const event of events.filter((e) => e.pair === pair)) {
        if (event.kind === 'clock') applyClock(state, event, config);
        else assert.equal(applyTrade(state, event, config).outcome, 'applied', `${pair} trade ${event.tradeId}`);
      }
    }
  });

  it('is reproducible from its seed', async () => {
    const prices = (events: MarketEvent[]) => events.flatMap((e) => (e.kind === 'trade' ? [e.price, e.qty] : []));
    assert.deepEqual(prices(await collect(42)).slice(0, 20), prices(await collect(42)).slice(0, 20));
    assert.notDeepEqual(prices(await collect(42)).slice(0, 20), prices(await collect(43)).slice(0, 20));
  });
});
