import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { parse, type GraphQLError } from 'graphql';
import { verifyHttpRequest } from '../lib/internal-signature.ts';
import type { Principal, Scope } from './auth.ts';
import type { GatewayContext } from './context.ts';
import { missingPath, SubgraphDataSource } from './subgraphs.ts';

const ENTITIES =
  'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Market { __typename lastTrade { price } } } }';

describe('missingPath: where a failed fetch leaves fields missing', () => {
  it('is the entity path plus the field when the fetch asked for one field', () => {
    assert.deepEqual(missingPath(['predictionCreated', 'market'], parse(ENTITIES)), [
      'predictionCreated',
      'market',
      'lastTrade',
    ]);
  });

  it('is the entity path when the fetch asked for several fields (aliases as the client named them)', () => {
    const document = parse(
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Market { trade: lastTrade { price } sentiment { count } } } }',
    );
    assert.deepEqual(missingPath(['market'], document), ['market']);
  });

  it('stops before a list: every element is missing alike', () => {
    assert.deepEqual(missingPath(['markets', '@', 'model'], parse(ENTITIES)), ['markets']);
  });

  it('is undefined for a root fetch or entities at the root of a list', () => {
    assert.equal(missingPath([], parse(ENTITIES)), undefined);
    assert.equal(missingPath(undefined, undefined), undefined);
    assert.equal(missingPath(['@'], parse(ENTITIES)), undefined);
  });
});

// ---- fetches against a real HTTP server standing in for a subgraph

const SECRET = 'a-test-secret-of-at-least-32-bytes-long';
const QUERY = '{ market(pair: "BTC/USD") { pair } }';

interface Upstream {
  readonly url: string;
  /** Requests received, with their claims as the subgraph verified them. */
  readonly received: { principal: string; scopes: string; body: string }[];
  /** Milliseconds before answering (so concurrent fetches overlap); Infinity never answers. */
  delayMs: number;
  /** Close a kept-alive connection on its next request unread, as a subgraph's idle timeout does. */
  closeReused: boolean;
  /** Characters of padding in every answer (a `pad` field), to make it large. */
  padChars: number;
  close(): Promise<void>;
}

/** Answers every request, after `delayMs`, with the claims it verified and its own sequence number. */
async function startUpstream(): Promise<Upstream> {
  const received: Upstream['received'] = [];
  const served = new WeakSet<object>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    if (upstream.closeReused && served.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    served.add(req.socket);
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const header = (name: string) => req.headers[name] as string | undefined;
      const verified = verifyHttpRequest([SECRET], { method: req.method ?? '', path: req.url ?? '', body }, header);
      if (!verified.ok) {
        res.writeHead(401).end();
        return;
      }
      const claims = { principal: verified.claims.principal, scopes: [...verified.claims.scopes].join(','), body };
      received.push(claims);
      const data = { who: claims.principal, scopes: claims.scopes, n: received.length };
      const answer = { data: upstream.padChars > 0 ? { ...data, pad: 'x'.repeat(upstream.padChars) } : data };
      if (upstream.delayMs === Infinity) return;
      setTimeout(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)),
        upstream.delayMs,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstream: Upstream = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    received,
    delayMs: 50,
    closeReused: false,
    padChars: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return upstream;
}

const principal = (id: string, ...scopes: Scope[]): Principal => ({ kind: 'api-key', id, scopes: new Set(scopes) });

/** What Apollo Gateway's executor passes for one fetch of a client operation of `kind`. */
function fetchOptions(
  who: Principal,
  kind: 'query' | 'mutation' = 'query',
  variables: Record<string, unknown> = {},
): GraphQLDataSourceProcessOptions<GatewayContext> {
  return {
    kind: 'incoming operation',
    request: { query: kind === 'query' ? QUERY : 'mutation { retrain { ok } }', variables },
    context: { principal: who, transport: 'http', state: {} },
    incomingRequestContext: { operation: { operation: kind } },
    pathInIncomingRequest: [],
  } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>;
}

describe('SubgraphDataSource: identical in-flight fetches', () => {
  let upstream: Upstream;
  let source: SubgraphDataSource;

  before(async () => {
    upstream = await startUpstream();
    source = new SubgraphDataSource({ name: 'markets', url: upstream.url, timeoutMs: 2_000, signingSecret: SECRET });
  });
  after(async () => {
    source.close();
    await upstream.close();
  });
  const reset = () => {
    upstream.received.length = 0;
    upstream.delayMs = 50;
    upstream.closeReused = false;
    upstream.padChars = 0;
  };

  it('sends two identical concurrent queries of one caller once, and each gets its own copy of the answer', async () => {
    reset();
    const alice = principal('alice', 'read');
    const [a, b] = await Promise.all([source.process(fetchOptions(alice)), source.process(fetchOptions(alice))]);
    assert.equal(upstream.received.length, 1);
    assert.deepEqual(a.data, { who: 'alice', scopes: 'read', n: 1 });
    assert.deepEqual(b.data, a.data);
    assert.notEqual(a.data, b.data, 'callers never share the parsed objects');
  });

  it('sends the same query once per auth context, and each caller gets the answer for its own', async () => {
    reset();
    const answers = await Promise.all(
      [principal('alice', 'read'), principal('alice', 'read', 'admin'), principal('bob', 'read')].map((who) =>
        source.process(fetchOptions(who)),
      ),
    );
    assert.equal(upstream.received.length, 3);
    assert.deepEqual(
      answers.map((a) => [a.data?.['who'], a.data?.['scopes']]),
      [
        ['alice', 'read'],
        ['alice', 'read,admin'],
        ['bob', 'read'],
      ],
    );
  });

  it('sends queries with different variables separately', async () => {
    reset();
    const alice = principal('alice', 'read');
    await Promise.all([
      source.process(fetchOptions(alice, 'query', { first: 1 })),
      source.process(fetchOptions(alice, 'query', { first: 2 })),
    ]);
    assert.equal(upstream.received.length, 2);
  });

  it('shares nothing with dedupe off', async () => {
    reset();
    const apart = new SubgraphDataSource({
      name: 'markets',
      url: upstream.url,
      timeoutMs: 2_000,
      signingSecret: SECRET,
      dedupe: false,
    });
    try {
      const alice = principal('alice', 'read');
      await Promise.all([apart.process(fetchOptions(alice)), apart.process(fetchOptions(alice))]);
      assert.equal(upstream.received.length, 2);
    } finally {
      apart.close();
    }
  });

  it('never shares a mutation', async () => {
    reset();
    const admin = principal('alice', 'read', 'admin');
    await Promise.all([
      source.process(fetchOptions(admin, 'mutation')),
      source.process(fetchOptions(admin, 'mutation')),
    ]);
    assert.equal(upstream.received.length, 2);
  });

  it('shares only while in flight: the same query later is sent again', async () => {
    reset();
    const alice = principal('alice', 'read');
    await source.process(fetchOptions(alice));
    const again = await source.process(fetchOptions(alice));
    assert.equal(upstream.received.length, 2);
    assert.equal(again.data?.['n'], 2);
  });

  it('gives up after the timeout with SUBGRAPH_UNAVAILABLE (reason timeout), for every caller sharing the fetch', async () => {
    reset();
    upstream.delayMs = Infinity;
    const slow = new SubgraphDataSource({ name: 'markets', url: upstream.url, timeoutMs: 100, signingSecret: SECRET });
    try {
      const alice = principal('alice', 'read');
      const results = await Promise.allSettled([slow.process(fetchOptions(alice)), slow.process(fetchOptions(alice))]);
      assert.equal(upstream.received.length, 1);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        const error = (result as PromiseRejectedResult).reason as GraphQLError;
        assert.equal(error.extensions['code'], 'SUBGRAPH_UNAVAILABLE');
        assert.equal(error.extensions['reason'], 'timeout');
      }
    } finally {
      slow.close();
    }
  });

  it('sends a query again on a new connection when its kept-alive one was closed; never a mutation', async () => {
    reset();
    const fresh = new SubgraphDataSource({
      name: 'markets',
      url: upstream.url,
      timeoutMs: 2_000,
      signingSecret: SECRET,
    });
    try {
      const alice = principal('alice', 'read', 'admin');
      // Two kept-alive connections (different variables: not shared), both closed by the subgraph next.
      await Promise.all([1, 2].map((n) => fresh.process(fetchOptions(alice, 'query', { n }))));
      upstream.closeReused = true;
      const query = await fresh.process(fetchOptions(alice));
      assert.equal(query.data?.['n'], 3, 'answered on the second attempt, not on the other closed connection');
      upstream.closeReused = false;
      await fresh.process(fetchOptions(alice)); // a kept-alive connection again
      upstream.closeReused = true;
      await assert.rejects(fresh.process(fetchOptions(alice, 'mutation')), (error: GraphQLError) => {
        assert.equal(error.extensions['code'], 'SUBGRAPH_UNAVAILABLE');
        return true;
      });
      assert.equal(upstream.received.length, 4, 'the mutation was not sent again');
    } finally {
      fresh.close();
    }
  });

  it('reads an answer up to maxResponseBytes, and fails a larger one as SUBGRAPH_UNAVAILABLE (reason too_large)', async () => {
    reset();
    const bounded = new SubgraphDataSource({
      name: 'markets',
      url: upstream.url,
      timeoutMs: 2_000,
      signingSecret: SECRET,
      maxResponseBytes: 200_000,
    });
    try {
      const alice = principal('alice', 'read');
      upstream.padChars = 150_000;
      const fits = await bounded.process(fetchOptions(alice));
      assert.equal((fits.data?.['pad'] as string).length, 150_000);
      upstream.padChars = 250_000;
      await assert.rejects(bounded.process(fetchOptions(alice)), (error: GraphQLError) => {
        assert.equal(error.extensions['code'], 'SUBGRAPH_UNAVAILABLE');
        assert.equal(error.extensions['reason'], 'too_large');
        return true;
      });
    } finally {
      bounded.close();
    }
  });

  it('signs each request it sends (the subgraph refuses an unsigned one)', async () => {
    reset();
    const unsigned = new SubgraphDataSource({ name: 'markets', url: upstream.url, timeoutMs: 2_000 });
    try {
      await assert.rejects(unsigned.process(fetchOptions(principal('alice', 'read'))), (error: GraphQLError) => {
        assert.equal(error.extensions['reason'], 'http_401');
        return true;
      });
    } finally {
      unsigned.close();
    }
    assert.equal(upstream.received.length, 0);
  });
});
