import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromRestPair, toRestPair } from './kraken-pairs.ts';

describe('pair names', () => {
  it('maps v2 pairs to REST names and back through the asset table', () => {
    assert.equal(toRestPair('BTC/USD'), 'XBTUSD');
    assert.equal(toRestPair('ETH/USD'), 'ETHUSD');
    assert.equal(toRestPair('ETH/BTC'), 'ETHXBT');
    assert.equal(toRestPair('DOGE/USD'), 'XDGUSD');
    assert.equal(fromRestPair('XBTUSD'), 'BTC/USD');
    assert.equal(fromRestPair('XDGUSDT'), 'DOGE/USDT');
    assert.equal(fromRestPair('ETHXBT'), 'ETH/BTC');
    assert.equal(fromRestPair('XBT/EUR'), 'BTC/EUR');
    assert.equal(fromRestPair('XBTZZZ'), null);
  });
});
