import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_RETRY_AFTER_MS, retryAfterMs } from './retry-after.ts';

const NOW = Date.UTC(1994, 10, 6, 8, 49, 0); // 37 s before the RFC's example date

describe('retryAfterMs', () => {
  it('reads delay-seconds as ms', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '7' })), 7_000);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '0' })), 0);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '1.5' })), 1_500);
  });

  it('reads an HTTP-date in each of the three forms RFC 9110 asks recipients to accept', () => {
    for (const date of [
      'Sun, 06 Nov 1994 08:49:37 GMT',
      'Sunday, 06-Nov-94 08:49:37 GMT',
      'Sun Nov  6 08:49:37 1994',
    ]) {
      assert.equal(retryAfterMs(new Headers({ 'retry-after': date }), { now: NOW }), 37_000, date);
    }
  });

  it('answers 0 for a date already past', () => {
    assert.equal(
      retryAfterMs(new Headers({ 'retry-after': 'Sun, 06 Nov 1994 08:49:37 GMT' }), { now: NOW + 60_000 }),
      0,
    );
  });

  it('prefers retry-after-ms (OpenAI) over retry-after', () => {
    const headers = new Headers({ 'retry-after-ms': '250.5', 'retry-after': '1' });
    assert.equal(retryAfterMs(headers), 250.5);
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': 'soon', 'retry-after': '1' })), 1_000);
  });

  it('is undefined when absent or unreadable, including strings Date.parse or Number would accept', () => {
    assert.equal(retryAfterMs(undefined), undefined);
    assert.equal(retryAfterMs(new Headers()), undefined);
    for (const value of ['', 'soon', '-1', '1e3', '0x10', 'Infinity', '2024-01-01', 'Sun, 06 Nov 1994 08:49:37']) {
      assert.equal(retryAfterMs(new Headers({ 'retry-after': value })), undefined, JSON.stringify(value));
    }
  });

  it('bounds absurd waits, by default and by the caller', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '99999999999' })), MAX_RETRY_AFTER_MS);
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '99999999999' })), MAX_RETRY_AFTER_MS);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' })), MAX_RETRY_AFTER_MS);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '600' }), { maxMs: 300_000 }), 300_000);
  });
});
