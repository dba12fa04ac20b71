/**
 * News items, fuzzed: RSS and Atom documents through the feed parser, CryptoPanic pages
 * through the real client against a local HTTP server, and hostile article fields through
 * `toNewsItem`. Valid items pass with their title intact; every refused entry is counted in
 * `tickcast_news_items_rejected_total`; nothing but a TickcastError is ever thrown.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { TickcastError } from '../../lib/errors.ts';
import { toNewsItem } from '../../streams/news/article.ts';
import { CryptoPanicClient } from '../../streams/news/cryptopanic.ts';
import { parseFeed } from '../../streams/news/rss.ts';
import { counterTotal, fuzzParams, hostileJsonText, hostileNumber, hostileText, hostileTimestamp } from './support.ts';

const REJECTED = 'tickcast_news_items_rejected_total';
const PUBLISHED = Date.UTC(2022, 4, 12, 9, 30);

/** Headline words, numbers among them (a parser must not turn "007" into 7). */
const word = fc.oneof(
  fc.stringMatching(/^[A-Za-z]{1,10}$/),
  fc.constantFrom('007', '1.50', '2024', '0x1A', '1e3', 'Infinity', 'NaN', '-0', 'true', 'null'),
);
const headline = fc.array(word, { minLength: 1, maxLength: 8 }).map((w) => w.join(' '));

const xmlEscape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

type EntrySpec =
  | { kind: 'valid'; title: string }
  | { kind: 'no-date'; title: string }
  | { kind: 'bad-date'; title: string; date: string }
  | { kind: 'no-title' }
  | { kind: 'hostile'; title: string; date: string; link: string };

const entrySpec: fc.Arbitrary<EntrySpec> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('valid' as const), title: headline }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('no-date' as const), title: headline }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('bad-date' as const),
      title: headline,
      date: fc.constantFrom('yesterday', 'not a date', '', '32 Foo 2022'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'no-title' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hostile' as const),
      title: hostileText,
      date: hostileTimestamp.map(String),
      link: fc.oneof(hostileText, fc.constantFrom('javascript:alert(1)', 'https://', 'http://a.b/c?utm_x=1#f')),
    }),
  },
);

function rssItem(spec: EntrySpec, i: number): string {
  const link = `<link>https://news.example/${i}</link>`;
  const date = `<pubDate>${new Date(PUBLISHED + i * 60_000).toUTCString()}</pubDate>`;
  switch (spec.kind) {
    case 'valid':
      return `<item><title>${xmlEscape(spec.title)}</title>${link}<description>Some text</description>${date}</item>`;
    case 'no-date':
      return `<item><title>${xmlEscape(spec.title)}</title>${link}</item>`;
    case 'bad-date':
      return `<item><title>${xmlEscape(spec.title)}</title>${link}<pubDate>${xmlEscape(spec.date)}</pubDate></item>`;
    case 'no-title':
      return `<item>${link}${date}</item>`;
    case 'hostile':
      return `<item><title>${xmlEscape(spec.title)}</title><link>${xmlEscape(spec.link)}</link><pubDate>${xmlEscape(spec.date)}</pubDate></item>`;
  }
}

function atomEntry(spec: EntrySpec, i: number): string {
  const link = `<link rel="alternate" href="https://news.example/${i}"/>`;
  const date = `<updated>${new Date(PUBLISHED + i * 60_000).toISOString()}</updated>`;
  switch (spec.kind) {
    case 'valid':
      return `<entry><title>${xmlEscape(spec.title)}</title>${link}<summary>Some text</summary>${date}</entry>`;
    case 'no-date':
      return `<entry><title>${xmlEscape(spec.title)}</title>${link}</entry>`;
    case 'bad-date':
      return `<entry><title>${xmlEscape(spec.title)}</title>${link}<updated>${xmlEscape(spec.date)}</updated></entry>`;
    case 'no-title':
      return `<entry>${link}${date}</entry>`;
    case 'hostile':
      return `<entry><title>${xmlEscape(spec.title)}</title><link href="${xmlEscape(spec.link)}"/><updated>${xmlEscape(spec.date)}</updated></entry>`;
  }
}

/** Whether an entry can never become an item (no title, or no readable date). */
const mustReject = (spec: EntrySpec): boolean =>
  spec.kind === 'no-date' || spec.kind === 'bad-date' || spec.kind === 'no-title';

describe('fuzz: RSS and Atom feeds (parseFeed)', () => {
  it('turns every entry into an item or a counted rejection, keeps valid titles intact, never throws', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('rss' as const, 'atom' as const),
        fc.array(entrySpec, { maxLength: 8 }),
        async (format, entries) => {
          const body = entries.map(format === 'rss' ? rssItem : atomEntry).join('\n');
          const xml =
            format === 'rss'
              ? `<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>${body}</channel></rss>`
              : `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title>${body}</feed>`;
          const before = await counterTotal(REJECTED, { feed: 'rss' });
          const { items, rejected } = parseFeed(xml, 'fallback');
          assert.equal(items.length + rejected, entries.length, 'every entry accounted for');
          assert.equal((await counterTotal(REJECTED, { feed: 'rss' })) - before, rejected, 'rejections counted');
          const titles = new Set(items.map((item) => item.title));
          entries.forEach((spec) => {
            if (spec.kind === 'valid') assert.ok(titles.has(spec.title), `valid title "${spec.title}" lost`);
            if (mustReject(spec)) assert.ok(rejected > 0);
          });
          for (const item of items) assert.ok(Number.isSafeInteger(item.publishedAt) && item.title.length > 0);
        },
      ),
      fuzzParams(1_500),
    );
  });

  it('answers any other document with the parsed items or a TickcastError', () => {
    const document = fc.oneof(
      hostileText,
      hostileJsonText,
      fc.constant(`<?xml version="1.0"?><rss><channel><item><title>a</title></item>`),
      fc.constant(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' +
          '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>' +
          '<rss><channel><item><title>&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;</title></item></channel></rss>',
      ),
      fc
        .constant(
          '<rss><channel><title>T</title><item><title>A</title><pubDate>Tue, 05 Jul 2022 04:24:00 GMT</pubDate></item></channel></rss>',
        )
        .chain((t) => fc.integer({ min: 0, max: t.length - 1 }).map((n) => t.slice(0, n))),
    );
    fc.assert(
      fc.property(document, (xml) => {
        try {
          const { items } = parseFeed(xml, 'fallback');
          for (const item of items) assert.ok(item.title.length > 0 && item.title.length < 1_000_000);
        } catch (error) {
          assert.ok(error instanceof TickcastError, `not a TickcastError: ${String(error)}`);
        }
      }),
      fuzzParams(1_500),
    );
  });
});

type PostSpec =
  | { kind: 'valid'; title: string; coins: string[] }
  | { kind: 'mutated'; field: string; how: 'replace' | 'remove'; value: unknown }
  | { kind: 'junk'; json: string };

const postSpec: fc.Arbitrary<PostSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('valid' as const),
      title: headline,
      coins: fc.array(fc.constantFrom('BTC', 'eth', 'SOL'), { maxLength: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('mutated' as const),
      field: fc.constantFrom('id', 'title', 'url', 'published_at', 'source', 'currencies', 'description'),
      how: fc.constantFrom('replace' as const, 'remove' as const),
      value: fc.oneof(hostileNumber, hostileText, hostileTimestamp),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('junk' as const), json: hostileJsonText }) },
);

function post(spec: PostSpec, i: number): string {
  if (spec.kind === 'junk') return spec.json;
  const base: Record<string, unknown> = {
    id: i,
    title: spec.kind === 'valid' ? spec.title : 'Bitcoin holds',
    url: `https://cryptopanic.com/news/${i}/`,
    published_at: new Date(PUBLISHED + i * 1_000).toISOString(),
    domain: 'example.com',
    source: { title: 'Example', domain: 'example.com' },
    currencies: (spec.kind === 'valid' ? spec.coins : []).map((code) => ({ code })),
  };
  if (spec.kind === 'mutated') {
    if (spec.how === 'remove') delete base[spec.field];
    else base[spec.field] = spec.value;
  }
  return JSON.stringify(base);
}

describe('fuzz: CryptoPanic pages through the real client and a local HTTP server', () => {
  let server: Server;
  let body = '';
  let client: CryptoPanicClient;

  before(async () => {
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new CryptoPanicClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'fuzz', timeoutMs: 5_000 });
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('turns every post into an item or a counted rejection, and a broken page into a TickcastError', async () => {
    let nextId = 1;
    const page = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({ kind: fc.constant('posts' as const), posts: fc.array(postSpec, { maxLength: 8 }) }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('broken' as const), text: fc.oneof(hostileJsonText, hostileText) }),
      },
    );
    await fc.assert(
      fc.asyncProperty(page, async (spec) => {
        const ids = spec.kind === 'posts' ? spec.posts.map(() => nextId++) : [];
        body =
          spec.kind === 'posts'
            ? `{"count":${ids.length},"next":null,"previous":null,"results":[${spec.posts.map((p, i) => post(p, ids[i]!)).join(',')}]}`
            : spec.text;
        const before = await counterTotal(REJECTED, { feed: 'cryptopanic' });
        let result: Awaited<ReturnType<CryptoPanicClient['fetchPosts']>>;
        try {
          result = await client.fetchPosts();
        } catch (error) {
          assert.ok(error instanceof TickcastError, `not a TickcastError: ${String(error)}`);
          assert.equal(spec.kind, 'broken', `a page of posts was refused whole: ${String(error)}`);
          return;
        }
        assert.equal((await counterTotal(REJECTED, { feed: 'cryptopanic' })) - before, result.rejected);
        if (spec.kind !== 'posts') return;
        assert.equal(result.items.length + result.rejected, spec.posts.length, 'every post accounted for');
        const titles = new Set(result.items.map((item) => item.title));
        for (const p of spec.posts) if (p.kind === 'valid') assert.ok(titles.has(p.title), `valid "${p.title}" lost`);
      }),
      fuzzParams(400),
    );
  });
});

describe('fuzz: article fields (toNewsItem)', () => {
  it('answers a valid NewsItem or an INVALID_EVENT TickcastError for any fields', () => {
    fc.assert(
      fc.property(
        fc.record({
          title: hostileText,
          text: hostileText,
          url: fc.option(hostileText),
          source: hostileText,
          publishedAt: fc.oneof(fc.integer(), fc.double(), fc.constant(PUBLISHED)),
        }),
        (fields) => {
          try {
            const item = toNewsItem({ ...fields, feed: 'rss' });
            assert.ok(item.title.length > 0 && /^[0-9a-f]{24}$/.test(item.id));
          } catch (error) {
            assert.ok(error instanceof TickcastError && error.code === 'INVALID_EVENT', String(error));
          }
        },
      ),
      fuzzParams(2_000),
    );
  });
});
