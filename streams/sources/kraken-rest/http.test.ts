import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { TickcastError } from '../../../lib/errors.ts';
import { FakeKrakenRestServer, syntheticTrades, type Fault } from '../../../test/fakes/kraken-rest-server.ts';
import { getPublic, type Attempt } from './http.ts';

let server: FakeKrakenRestServer;
before(async () => {
  server = await FakeKrakenRestServer.start({
    trades: { XBTUSD: syntheticTrades({ count: 2, startMs: Date.UTC(2024, 0, 1), stepMs: 1_000 }) },
  });
});
after(async () => {
  await server.close();
});

/** One GET of the fake's Trades endpoint, answered by `fault` when given. */
function get(fault?: Fault): Promise<Attempt> {
  if (fault) server.injectFaults([fault]);
  return getPublic(
    {
      url: `${server.url}/0/public/Trades?pair=XBTUSD&since=0`,
      endpoint: 'Trades',
      params: { pair: 'XBTUSD', since: '0' },
      pair: 'BTC/USD',
      timeoutMs: 5_000,
      log: pino({ level: 'silent' }),
    },
    new AbortController().signal,
  );
}

describe('getPublic: one Kraken GET and what its answer means', () => {
  it('returns `result` of a good answer', async () => {
    const outcome = await get();
    assert.equal(outcome.kind, 'ok');
    assert.ok(outcome.kind === 'ok' && Array.isArray(outcome.result['XXBTZUSD']));
  });

  it('reads HTTP 429 and EAPI:Rate limit exceeded as RATE_LIMITED, with the Retry-After sent', async () => {
    assert.deepEqual(await get({ kind: 'http', status: 429, retryAfter: '2' }), {
      kind: 'retry',
      code: 'RATE_LIMITED',
      reason: 'HTTP 429',
      retryAfterMs: 2_000,
    });
    assert.deepEqual(await get({ kind: 'kraken-error', error: 'EAPI:Rate limit exceeded' }), {
      kind: 'retry',
      code: 'RATE_LIMITED',
      reason: 'EAPI:Rate limit exceeded',
      retryAfterMs: 0,
    });
  });

  it('reads 5xx, EService errors and a page without a Kraken envelope as UPSTREAM_UNAVAILABLE', async () => {
    for (const fault of [
      { kind: 'http', status: 503 },
      { kind: 'kraken-error', error: 'EService:Busy' },
      { kind: 'http', status: 200, body: '<html>maintenance</html>' },
    ] satisfies Fault[]) {
      const outcome = await get(fault);
      assert.equal(outcome.kind === 'retry' && outcome.code, 'UPSTREAM_UNAVAILABLE', JSON.stringify(fault));
    }
  });

  it('bounds a Retry-After Kraken could not mean at 5 minutes', async () => {
    const outcome = await get({ kind: 'http', status: 503, retryAfter: '86400' });
    assert.equal(outcome.kind === 'retry' && outcome.retryAfterMs, 300_000);
  });

  it('throws UPSTREAM_REJECTED for an unknown pair and other E errors, which no retry can fix', async () => {
    for (const [error, hint] of [
      ['EQuery:Unknown asset pair', /V2_TO_REST_ASSET/],
      ['EGeneral:Invalid arguments', /Check the backfill parameters/],
    ] as const) {
      await assert.rejects(
        get({ kind: 'kraken-error', error }),
        (e: unknown) => e instanceof TickcastError && e.code === 'UPSTREAM_REJECTED' && hint.test(e.message),
      );
    }
    await assert.rejects(
      get({ kind: 'http', status: 404 }),
      (e: unknown) => e instanceof TickcastError && e.code === 'UPSTREAM_REJECTED',
    );
  });
});
