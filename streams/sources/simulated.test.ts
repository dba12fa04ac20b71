import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MarketEvent } from '../../schema/events.ts';
import { marketEventSchema } from '../../schema/events.ts';
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
      assert.deepEqual(
        ids,
        ids.map((_, i) => i + 1),
      );
    }
    assert.ok(events.some((e) => e.kind === 'clock'));
    const btc = trades.find((t) => t.pair === 'BTC/USD');
    assert.ok(btc && btc.price > 20_000 && btc.price < 40_000, 'starts near a plausible BTC price');
  });

  it('is reproducible from its seed', async () => {
    const prices = (events: MarketEvent[]) => events.flatMap((e) => (e.kind === 'trade' ? [e.price, e.qty] : []));
    assert.deepEqual(prices(await collect(42)).slice(0, 20), prices(await collect(42)).slice(0, 20));
    assert.notDeepEqual(prices(await collect(42)).slice(0, 20), prices(await collect(43)).slice(0, 20));
  });
});
