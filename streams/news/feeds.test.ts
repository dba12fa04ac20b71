/** The RSS/Atom parser, the CryptoPanic client and the poller against a local HTTP server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FeedClient, parseFeed } from './rss.ts';
import { CryptoPanicClient } from './cryptopanic.ts';
import { HttpRetryError, redact } from './http.ts';
import { PollingNewsSource } from './poller.ts';
import { TickcastError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import type { NewsItem } from '../../schema/events.ts';

const RSS = `<?xml version="1.0"?><rss version="2.0"><channel><title>CoinDesk</title>
<item><title>Bitcoin &amp; Ether rally</title><link>https://coindesk.com/a?utm_source=rss</link>
<description><![CDATA[<p>BTC <b>jumps</b> 5%.</p>]]></description><pubDate>Tue, 05 Jul 2022 04:24:00 GMT</pubDate></item>
<item><title>No date here</title><link>https://coindesk.com/b</link></item>
</channel></rss>`;

const ATOM = `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>The Block</title>
<entry><title type="html">Solana outage</title><link rel="alternate" href="https://theblock.co/s"/>
<summary>SOL halted for hours.</summary><updated>2022-06-01T10:00:00Z</updated></entry></feed>`;

describe('parseFeed', () => {
  it('reads RSS items, strips HTML, canonicalises links and skips an undated item', () => {
    const { items, rejected } = parseFeed(RSS, 'fallback');
    assert.equal(rejected, 1);
    assert.equal(items.length, 1);
    assert.equal(items[0]?.title, 'Bitcoin & Ether rally');
    assert.equal(items[0]?.text, 'BTC jumps 5%.');
    assert.equal(items[0]?.url, 'https://coindesk.com/a');
    assert.equal(items[0]?.source, 'CoinDesk');
    assert.equal(items[0]?.publishedAt, Date.UTC(2022, 6, 5, 4, 24));
  });

  it('reads Atom entries', () => {
    const { items } = parseFeed(ATOM, 'fallback');
    assert.deepEqual(
      items.map((i) => [i.title, i.url, i.text, i.source, i.publishedAt]),
      [['Solana outage', 'https://theblock.co/s', 'SOL halted for hours.', 'The Block', Date.UTC(2022, 5, 1, 10)]],
    );
  });

  it('refuses a document that is neither', () => {
    assert.throws(() => parseFeed('<html><body/></html>', 'x'), TickcastError);
  });
});

describe('http helpers', () => {
  it('redacts tokens', () => {
    assert.equal(
      redact('https://x/api/v1/posts/?auth_token=secret&public=true'),
      'https://x/api/v1/posts/?auth_token=***&public=true',
    );
  });
});

interface Exchange {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

describe('against a local server', () => {
  let server: Server;
  let base = '';
  const requests: Exchange[] = [];
  /** Each request takes the next scripted answer. */
  const answers: { status: number; body?: string; headers?: Record<string, string> }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      requests.push({ path: req.url ?? '', headers: req.headers });
      const answer = answers.shift() ?? { status: 500 };
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('polls a feed conditionally: validators go back, a 304 yields nothing', async () => {
    requests.length = 0;
    answers.push(
      { status: 200, body: RSS, headers: { etag: '"v1"', 'last-modified': 'Tue, 05 Jul 2022 04:30:00 GMT' } },
      { status: 304 },
    );
    const client = new FeedClient(`${base}/rss`, 2_000);
    assert.equal((await client.fetchItems()).items.length, 1);
    assert.deepEqual((await client.fetchItems()).items, []);
    assert.equal(requests[0]?.headers['if-none-match'], undefined);
    assert.equal(requests[1]?.headers['if-none-match'], '"v1"');
    assert.equal(requests[1]?.headers['if-modified-since'], 'Tue, 05 Jul 2022 04:30:00 GMT');
  });

  it('reads CryptoPanic posts with the key in the query and its currencies as source coins', async () => {
    requests.length = 0;
    const page = {
      count: 3,
      next: null,
      previous: null,
      results: [
        {
          kind: 'news',
          id: 101,
          title: 'Ethereum devs set Merge date',
          url: 'https://cryptopanic.com/news/101/x',
          published_at: '2022-07-04T12:00:00Z',
          domain: 'decrypt.co',
          source: { title: 'Decrypt', region: 'en', domain: 'decrypt.co' },
          currencies: [{ code: 'ETH', title: 'Ethereum', slug: 'ethereum', url: 'x' }],
        },
        { id: 102, title: 'broken', published_at: 'not a date' },
        { id: 103 },
      ],
    };
    answers.push({ status: 200, body: JSON.stringify(page) });
    const client = new CryptoPanicClient({ baseUrl: base, token: 's3cret', timeoutMs: 2_000 });
    const { items, rejected } = await client.fetchPosts();
    assert.equal(rejected, 2);
    assert.equal(items.length, 1);
    assert.equal(items[0]?.source, 'Decrypt');
    assert.equal(items[0]?.feed, 'cryptopanic');
    assert.deepEqual(items[0]?.sourceCoins, ['ETH']);
    const url = new URL(requests[0]?.path ?? '', base);
    assert.equal(url.pathname, '/api/v1/posts/');
    assert.equal(url.searchParams.get('auth_token'), 's3cret');
  });

  it('classifies 429 with Retry-After as retriable and 401 as a refusal', async () => {
    const client = new CryptoPanicClient({ baseUrl: base, token: 'k', timeoutMs: 2_000 });
    answers.push({ status: 429, headers: { 'retry-after': '30' } });
    await assert.rejects(client.fetchPosts(), (e: unknown) => e instanceof HttpRetryError && e.retryAfterMs === 30_000);
    answers.push({ status: 401, body: '{"status":"Incomplete","info":"Token not found"}' });
    await assert.rejects(
      client.fetchPosts(),
      (e: unknown) => e instanceof TickcastError && e.code === 'UPSTREAM_REJECTED' && !e.retriable,
    );
  });

  it('the poller retries after a retriable failure, dedupes re-listed items and stops on a refusal', async () => {
    requests.length = 0;
    answers.push({ status: 503 }, { status: 200, body: RSS }, { status: 200, body: RSS }, { status: 403 });
    const client = new FeedClient(`${base}/rss`, 2_000);
    const delivered: NewsItem[][] = [];
    const source = new PollingNewsSource({
      name: 'rss',
      intervalMs: 0,
      backoff: { initialDelayMs: 0, maxDelayMs: 0, multiplier: 2, jitter: 0 },
      logger: createLogger('silent'),
      fetchOnce: async () => (await client.fetchItems()).items,
    });
    await assert.rejects(
      source.start(async (items) => void delivered.push(items), new AbortController().signal),
      (e: unknown) => e instanceof TickcastError && e.code === 'UPSTREAM_REJECTED',
    );
    assert.equal(requests.length, 4);
    assert.deepEqual(
      delivered.map((batch) => batch.map((i) => i.title)),
      [['Bitcoin & Ether rally']],
    );
  });
});
