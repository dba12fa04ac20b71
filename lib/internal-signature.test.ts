import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_SKEW_MS,
  ReplayGuard,
  SCOPES_HEADER,
  SIGNATURE_HEADER,
  signConnectionParams,
  signHttpRequest,
  verifyConnectionParams,
  verifyHttpRequest,
  type HttpMessage,
} from './internal-signature.ts';

const current = 'c'.repeat(32);
const previous = 'p'.repeat(32);
const message: HttpMessage = { method: 'POST', path: '/graphql', body: '{"query":"{ models { name } }"}' };
const claims = { principal: 'ops-key', scopes: ['read', 'admin'], requestId: 'req-1' };
const now = 1_700_000_000_000;

const lookup = (headers: Record<string, string>) => (name: string) => headers[name];

describe('internal HTTP signatures', () => {
  it('verify with the signing secret and yield the signed claims', () => {
    const headers = signHttpRequest(current, message, claims, now);
    assert.deepEqual(verifyHttpRequest([current], message, lookup(headers), { nowMs: now }), { ok: true, claims });
  });

  it('verify with any secret of the list (rotation), not with one that was dropped', () => {
    const signedWithPrevious = signHttpRequest(previous, message, claims, now);
    assert.equal(verifyHttpRequest([current, previous], message, lookup(signedWithPrevious), { nowMs: now }).ok, true);
    assert.deepEqual(verifyHttpRequest([current], message, lookup(signedWithPrevious), { nowMs: now }), {
      ok: false,
      reason: 'forged',
    });
  });

  it('are stale beyond the allowed skew either way', () => {
    const headers = signHttpRequest(current, message, claims, now);
    assert.equal(verifyHttpRequest([current], message, lookup(headers), { nowMs: now + MAX_SKEW_MS }).ok, true);
    for (const at of [now + MAX_SKEW_MS + 1_000, now - MAX_SKEW_MS - 1_000]) {
      assert.deepEqual(verifyHttpRequest([current], message, lookup(headers), { nowMs: at }), {
        ok: false,
        reason: 'stale',
      });
    }
  });

  it('do not verify once the body, method, path or any claim is changed', () => {
    const headers = signHttpRequest(current, message, claims, now);
    const tampered: [HttpMessage, Record<string, string>][] = [
      [{ ...message, body: message.body + ' ' }, headers],
      [{ ...message, method: 'GET' }, headers],
      [{ ...message, path: '/graphql?x=1' }, headers],
      [message, { ...headers, [SCOPES_HEADER]: 'read,admin,root' }],
      [message, { ...headers, 'x-tickcast-principal': 'someone-else' }],
      [message, { ...headers, 'x-tickcast-request-id': 'req-2' }],
    ];
    for (const [changed, changedHeaders] of tampered) {
      assert.deepEqual(verifyHttpRequest([current], changed, lookup(changedHeaders), { nowMs: now }), {
        ok: false,
        reason: 'forged',
      });
    }
  });

  it('treat a missing signature as unsigned and a garbled one as malformed', () => {
    assert.deepEqual(verifyHttpRequest([current], message, lookup({ [SCOPES_HEADER]: 'read,admin' }), { nowMs: now }), {
      ok: false,
      reason: 'unsigned',
    });
    for (const garbled of ['v1=abc', `t=${now / 1000},v1=short`, `t=x,v1=${'a'.repeat(43)}`]) {
      assert.deepEqual(verifyHttpRequest([current], message, lookup({ [SIGNATURE_HEADER]: garbled }), { nowMs: now }), {
        ok: false,
        reason: 'malformed',
      });
    }
  });

  it('verify once with a replay guard: the same signature again is a replay, a new one is not', () => {
    const replays = new ReplayGuard();
    const headers = signHttpRequest(current, message, claims, now);
    assert.equal(verifyHttpRequest([current], message, lookup(headers), { replays, nowMs: now }).ok, true);
    assert.deepEqual(verifyHttpRequest([current], message, lookup(headers), { replays, nowMs: now }), {
      ok: false,
      reason: 'replayed',
    });
    // A forgery never enters the guard, so it cannot lock a genuine signature out.
    const again = signHttpRequest(current, message, { ...claims, requestId: 'req-2' }, now);
    assert.equal(verifyHttpRequest([previous], message, lookup(again), { replays, nowMs: now }).ok, false);
    assert.equal(verifyHttpRequest([current], message, lookup(again), { replays, nowMs: now }).ok, true);
  });

  it('hash the body bytes: a Buffer and the same text sign alike', () => {
    const headers = signHttpRequest(current, { ...message, body: Buffer.from(message.body as string) }, claims, now);
    assert.equal(verifyHttpRequest([current], message, lookup(headers), { nowMs: now }).ok, true);
  });
});

describe('internal graphql-ws connection signatures', () => {
  const wsClaims = { principal: 'gateway-subscriptions', scopes: ['read'] };

  it('verify with any secret of the list and yield the claims with the nonce as request id', () => {
    const params = signConnectionParams(previous, wsClaims, now);
    const verified = verifyConnectionParams([current, previous], params, { nowMs: now });
    assert.deepEqual(verified, { ok: true, claims: { ...wsClaims, requestId: params.nonce } });
    assert.deepEqual(verifyConnectionParams([current], params, { nowMs: now }), { ok: false, reason: 'forged' });
  });

  it('reject forged scopes, stale timestamps, unsigned and malformed payloads', () => {
    const params = signConnectionParams(current, wsClaims, now);
    assert.deepEqual(verifyConnectionParams([current], { ...params, scopes: 'read,admin' }, { nowMs: now }), {
      ok: false,
      reason: 'forged',
    });
    assert.deepEqual(verifyConnectionParams([current], params, { nowMs: now + MAX_SKEW_MS + 1_000 }), {
      ok: false,
      reason: 'stale',
    });
    assert.deepEqual(verifyConnectionParams([current], { scopes: 'read,admin' }, { nowMs: now }), {
      ok: false,
      reason: 'unsigned',
    });
    assert.deepEqual(verifyConnectionParams([current], undefined, { nowMs: now }), { ok: false, reason: 'unsigned' });
    assert.deepEqual(verifyConnectionParams([current], { ...params, timestamp: 'soon' }, { nowMs: now }), {
      ok: false,
      reason: 'malformed',
    });
  });

  it('open one connection per signed payload with a replay guard', () => {
    const replays = new ReplayGuard();
    const params = signConnectionParams(current, wsClaims, now);
    assert.equal(verifyConnectionParams([current], params, { replays, nowMs: now }).ok, true);
    assert.deepEqual(verifyConnectionParams([current], params, { replays, nowMs: now }), {
      ok: false,
      reason: 'replayed',
    });
  });

  it('cannot be replayed as an HTTP signature', () => {
    const params = signConnectionParams(current, wsClaims, now);
    const headers = {
      [SIGNATURE_HEADER]: `t=${params.timestamp},v1=${params.signature}`,
      [SCOPES_HEADER]: params.scopes,
      'x-tickcast-principal': params.principal,
      'x-tickcast-request-id': params.nonce,
    };
    assert.deepEqual(verifyHttpRequest([current], message, lookup(headers), { nowMs: now }), {
      ok: false,
      reason: 'forged',
    });
  });
});
