import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { GraphQLError } from 'graphql';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { pino } from 'pino';
import { ConfigError } from '../lib/config.ts';
import {
  authorize,
  createAuthenticator,
  credentialsFromHeaders,
  generateApiKey,
  hashApiKey,
  parseApiKeyEntries,
  scopesHeader,
  type Authenticator,
  type JwtConfig,
  type Principal,
} from './auth.ts';

const silent = pino({ level: 'silent' });

/** The GraphQLError the promise rejects with. */
async function errorOf(promise: Promise<unknown>): Promise<GraphQLError> {
  const error = await promise.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof GraphQLError, `expected a GraphQLError, got ${String(error)}`);
  return error;
}

const codeOf = async (promise: Promise<unknown>) => (await errorOf(promise)).extensions['code'];

const scopes = (p: Principal) => [...p.scopes].sort();

describe('API keys', () => {
  it('stores sha256 of the key and accepts exactly that key, from x-api-key or a Bearer header', async () => {
    const hash = hashApiKey('s3cret-key');
    assert.equal(hash, `sha256:${createHash('sha256').update('s3cret-key').digest('hex')}`);
    const auth = createAuthenticator({ mode: 'enabled', apiKeys: parseApiKeyEntries(`dash:${hash}:read`) }, silent);
    const viaHeader = await auth.authenticate({ apiKey: 's3cret-key' }, 'ip');
    assert.deepEqual(
      { kind: viaHeader.kind, id: viaHeader.id, scopes: scopes(viaHeader) },
      {
        kind: 'api-key',
        id: 'key:dash',
        scopes: ['read'],
      },
    );
    assert.equal((await auth.authenticate({ bearer: 's3cret-key' }, 'ip')).id, 'key:dash');
    assert.equal(await codeOf(auth.authenticate({ apiKey: 's3cret-kez' }, 'ip')), 'UNAUTHENTICATED');
    assert.equal(await codeOf(auth.authenticate({ apiKey: hash }, 'ip')), 'UNAUTHENTICATED', 'the hash is not a key');
    assert.equal(await codeOf(auth.authenticate({}, 'ip')), 'UNAUTHENTICATED');
  });

  it('gives admin keys read as well, and forwards both scopes', async () => {
    const { key, entry } = generateApiKey('ops', ['admin']);
    const auth = createAuthenticator({ mode: 'enabled', apiKeys: parseApiKeyEntries(entry) }, silent);
    const principal = await auth.authenticate({ apiKey: key }, 'ip');
    assert.deepEqual(scopes(principal), ['admin', 'read']);
    assert.equal(scopesHeader(principal), 'read,admin');
  });

  it('stores keys as hmac-sha256 under GATEWAY_API_KEY_SECRET: the entry alone checks nothing', async () => {
    const secret = 'x'.repeat(40);
    const { key, entry } = generateApiKey('human', ['read'], secret);
    assert.match(entry, /^human:hmac-sha256:[0-9a-f]{64}:read$/);
    assert.ok(!entry.includes(createHash('sha256').update(key).digest('hex')), 'not the unkeyed digest');
    const auth = createAuthenticator(
      { mode: 'enabled', apiKeys: parseApiKeyEntries(entry), apiKeySecret: secret },
      silent,
    );
    assert.equal((await auth.authenticate({ apiKey: key }, 'ip')).id, 'key:human');
    assert.equal(await codeOf(auth.authenticate({ apiKey: `${key.slice(0, -2)}xx` }, 'ip')), 'UNAUTHENTICATED');
    const otherSecret = createAuthenticator(
      { mode: 'enabled', apiKeys: parseApiKeyEntries(entry), apiKeySecret: 'y'.repeat(40) },
      silent,
    );
    assert.equal(await codeOf(otherSecret.authenticate({ apiKey: key }, 'ip')), 'UNAUTHENTICATED');
    assert.throws(
      () => createAuthenticator({ mode: 'enabled', apiKeys: parseApiKeyEntries(entry) }, silent),
      /GATEWAY_API_KEY_SECRET/,
    );
  });

  it('refuses scrypt entries with what to do instead', () => {
    assert.throws(
      () => parseApiKeyEntries(`old:scrypt:${'1'.repeat(32)}:${'b'.repeat(64)}:read`),
      (e: unknown) => e instanceof ConfigError && /tickcast api-key/.test(e.message),
    );
  });

  it('parses entries separated by commas or whitespace and names the bad ones', () => {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `hmac-sha256:${'b'.repeat(64)}`;
    const entries = parseApiKeyEntries(` one:${a}:read, two:${b}:read+admin\nthree:${a}:admin `);
    assert.deepEqual(
      entries.map((e) => [e.id, e.scopes]),
      [
        ['one', ['read']],
        ['two', ['read', 'admin']],
        ['three', ['admin']],
      ],
    );
    assert.throws(
      () => parseApiKeyEntries(`bad:md5:abc:read`),
      (e: unknown) => e instanceof ConfigError && /"bad"/.test(e.message),
    );
    assert.throws(() => parseApiKeyEntries(`x:${a}:write`), ConfigError);
    assert.throws(() => parseApiKeyEntries(`x:${a}`), ConfigError);
    assert.throws(() => parseApiKeyEntries(`x:sha256:${'a'.repeat(63)}:read`), ConfigError);
    assert.throws(
      () => createAuthenticator({ mode: 'enabled', apiKeys: parseApiKeyEntries(`x:${a}:read x:${a}:admin`) }, silent),
      /configured twice/,
    );
  });

  it('refuses to start with auth enabled and no way to authenticate', () => {
    assert.throws(() => createAuthenticator({ mode: 'enabled', apiKeys: [] }, silent), ConfigError);
  });
});

describe('scopes', () => {
  const principal = (s: ('read' | 'admin')[]): Principal => ({ kind: 'api-key', id: 'k', scopes: new Set(s) });

  it('mutations need admin; queries and subscriptions need read', () => {
    const forbidden = (fn: () => void) =>
      assert.throws(fn, (e: unknown) => e instanceof GraphQLError && e.extensions['code'] === 'FORBIDDEN');
    forbidden(() => authorize(principal(['read']), 'mutation'));
    forbidden(() => authorize(principal([]), 'query'));
    forbidden(() => authorize(principal([]), 'subscription'));
    authorize(principal(['read']), 'query');
    authorize(principal(['read']), 'subscription');
    authorize(principal(['read', 'admin']), 'mutation');
  });

  it('reads credentials from x-api-key or authorization: Bearer', () => {
    const headers: Record<string, string> = { 'x-api-key': ' k1 ', authorization: 'bearer t.o.k' };
    assert.deepEqual(
      credentialsFromHeaders((n) => headers[n]),
      { apiKey: 'k1', bearer: 't.o.k' },
    );
    assert.deepEqual(
      credentialsFromHeaders((n) => ({ authorization: 'Basic abc' })[n]),
      { apiKey: undefined, bearer: undefined },
    );
  });
});

describe('authentication disabled', () => {
  it('must be asked for explicitly, warns loudly, and grants read and admin', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const auth = createAuthenticator({ mode: 'disabled' }, logger);
    assert.equal(auth.disabled, true);
    assert.ok(
      lines.some((l) => /"level":40/.test(l) && /AUTHENTICATION IS DISABLED/.test(l)),
      lines.join(''),
    );
    const principal = await auth.authenticate({}, '10.0.0.7');
    assert.deepEqual(
      [principal.kind, principal.id, scopes(principal)],
      ['anonymous', 'anonymous:10.0.0.7', ['admin', 'read']],
    );
  });
});

describe('JWT against a local JWKS server', () => {
  let server: Server;
  let jwksUrl: string;
  let privateKey: CryptoKey;
  let otherKey: CryptoKey;
  let jwksRequests = 0;
  let auth: Authenticator;
  const issuer = 'https://idp.test/';
  const audience = 'tickcast-api';

  before(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = createServer((_req, res) => {
      jwksRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    auth = createAuthenticator({ mode: 'enabled', apiKeys: [], jwt: jwtConfig(jwksUrl) }, silent);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const jwtConfig = (url: string): JwtConfig => ({
    jwksUrl: url,
    issuer,
    audience,
    algorithms: ['ES256'],
    jwksTimeoutMs: 2_000,
  });

  const sign = (
    claims: JWTPayload,
    options: { key?: CryptoKey; iss?: string; aud?: string; exp?: string | number } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(options.iss ?? issuer)
      .setAudience(options.aud ?? audience)
      .setIssuedAt()
      .setExpirationTime(options.exp ?? '5m')
      .sign(options.key ?? privateKey);

  it('accepts a valid token and takes scopes from the space-separated scope claim', async () => {
    const principal = await auth.authenticate(
      { bearer: await sign({ sub: 'svc-1', scope: 'openid read admin' }) },
      'ip',
    );
    assert.deepEqual([principal.kind, principal.id, scopes(principal)], ['jwt', 'jwt:svc-1', ['admin', 'read']]);
    assert.ok(jwksRequests >= 1, 'the keys came from the JWKS server');
  });

  it('takes scopes from an scp array, and grants nothing for unknown scopes', async () => {
    const reader = await auth.authenticate({ bearer: await sign({ sub: 'u', scp: ['read', 'profile'] }) }, 'ip');
    assert.deepEqual(scopes(reader), ['read']);
    const nobody = await auth.authenticate({ bearer: await sign({ sub: 'u', scope: 'write' }) }, 'ip');
    assert.deepEqual(scopes(nobody), []);
  });

  it('rejects a wrong issuer, a wrong audience, an expired token, a foreign signature and a missing sub', async () => {
    const cases: [string, RegExp][] = [
      [await sign({ sub: 'u', scope: 'read' }, { iss: 'https://evil.test/' }), /"iss"/],
      [await sign({ sub: 'u', scope: 'read' }, { aud: 'someone-else' }), /"aud"/],
      [await sign({ sub: 'u', scope: 'read' }, { exp: Math.floor(Date.now() / 1000) - 60 }), /"exp"/],
      [await sign({ sub: 'u', scope: 'read' }, { key: otherKey }), /signature/],
      [await sign({ scope: 'read' }), /"sub"/],
    ];
    for (const [token, why] of cases) {
      const error = await errorOf(auth.authenticate({ bearer: token }, 'ip'));
      assert.equal(error.extensions['code'], 'UNAUTHENTICATED');
      assert.match(error.message, why);
    }
  });

  it('says AUTH_UNAVAILABLE, not UNAUTHENTICATED, when the JWKS endpoint cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = createAuthenticator(
      { mode: 'enabled', apiKeys: [], jwt: jwtConfig(`http://127.0.0.1:${port}/jwks`) },
      silent,
    );
    assert.equal(
      await codeOf(unreachable.authenticate({ bearer: await sign({ sub: 'u', scope: 'read' }) }, 'ip')),
      'AUTH_UNAVAILABLE',
    );
  });

  it('rejects JWTs when only API keys are configured', async () => {
    const keysOnly = createAuthenticator(
      { mode: 'enabled', apiKeys: parseApiKeyEntries(`a:${hashApiKey('k')}:read`) },
      silent,
    );
    assert.equal(
      await codeOf(keysOnly.authenticate({ bearer: await sign({ sub: 'u', scope: 'read' }) }, 'ip')),
      'UNAUTHENTICATED',
    );
  });
});
