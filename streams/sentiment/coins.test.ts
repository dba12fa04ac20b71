import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coinOfPair, tagCoins } from './coins.ts';

describe('tagCoins', () => {
  it('finds names in any case and tickers in upper case', () => {
    assert.deepEqual(tagCoins('Bitcoin Returns Above USD 20K, Ethereum Rallies, CEL Keeps Outperforming', ''), [
      'BTC',
      'ETH',
      'CEL',
    ]);
    assert.deepEqual(tagCoins('$SOL and xbt', 'ADA holders'), ['SOL', 'ADA']);
  });

  it('does not read ordinary words as tickers', () => {
    assert.deepEqual(tagCoins('Click the link to connect the dots', 'one near atom'), []);
  });

  it('lets the longer name win: Ethereum Classic is ETC, Terra USD is UST', () => {
    assert.deepEqual(tagCoins('Ethereum Classic hashrate', ''), ['ETC']);
    assert.deepEqual(tagCoins('Terra USD depegs while Terra founder speaks', ''), ['UST', 'LUNA']);
  });

  it('adds the coins the source tagged', () => {
    assert.deepEqual(tagCoins('Exchange news', '', ['XRP']), ['XRP']);
  });

  it('maps a market to its coin', () => {
    assert.equal(coinOfPair('BTC/USD'), 'BTC');
    assert.equal(coinOfPair('XBT/EUR'), 'BTC');
    assert.equal(coinOfPair('ETH/USD'), 'ETH');
  });
});
