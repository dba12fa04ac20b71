import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isStoreUnavailable, TickcastError } from './errors.ts';

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('isStoreUnavailable', () => {
  it('recognises a store that is not there: refused, reset, shutting down, starting, pool timeouts, through causes', () => {
    for (const error of [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('connection failure', '08006'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
      new TickcastError('STORE_UNAVAILABLE', 'write failed'),
      new Error('resolver failed', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') }),
    ]) {
      assert.equal(isStoreUnavailable(error), true, error.message);
    }
  });

  it('leaves errors of the query itself alone', () => {
    for (const error of [
      withCode('relation "candles" does not exist', '42P01'),
      withCode('canceling statement due to statement timeout', '57014'),
      new Error('boom'),
      'not an error',
      undefined,
    ]) {
      assert.equal(isStoreUnavailable(error), false, String(error));
    }
  });
});
