import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secondsToMs } from './rows.ts';

describe('Kraken REST rows', () => {
  it('converts float seconds to epoch ms without rounding up', () => {
    assert.equal(secondsToMs(1688669597.8277369), 1688669597827);
    assert.equal(secondsToMs('1559347203.7998'), 1559347203799);
    assert.equal(secondsToMs(1559347204), 1559347204000);
    assert.equal(secondsToMs('soon'), null);
  });
});
