import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { articleId, canonicalUrl, contentHash, toNewsItem } from './article.ts';
import { SeenArticles } from './dedupe.ts';
import { TickcastError } from '../../lib/errors.ts';

const base = { text: 'Lede.', source: 'CoinTelegraph', feed: 'rss' as const, publishedAt: Date.UTC(2022, 0, 1) };

describe('article identity', () => {
  it('canonicalises URLs: tracking parameters, fragment, trailing slash, scheme and host case', () => {
    assert.equal(
      canonicalUrl('http://CoinTelegraph.com/news/x/?utm_source=rss&id=3#top'),
      'https://cointelegraph.com/news/x/?id=3',
    );
    assert.equal(canonicalUrl('https://cointelegraph.com/news/x/'), 'https://cointelegraph.com/news/x');
    assert.equal(canonicalUrl('not a url'), null);
    assert.equal(canonicalUrl('ftp://x.org/a'), null);
  });

  it('gives one id per canonical URL and falls back to source and title without one', () => {
    assert.equal(articleId('https://a.io/n?utm_medium=x', 'A', 't1'), articleId('http://a.io/n', 'B', 't2'));
    assert.notEqual(articleId('https://a.io/n', 'A', 't'), articleId('https://a.io/m', 'A', 't'));
    assert.equal(articleId(null, 'A', 'Bitcoin  Rises'), articleId(null, 'a', 'bitcoin rises'));
    assert.notEqual(articleId(null, 'A', 'Bitcoin rises'), articleId(null, 'B', 'Bitcoin rises'));
  });

  it('hashes content independently of case and whitespace, but not of words', () => {
    assert.equal(contentHash('Bitcoin  Rises', 'x'), contentHash('bitcoin rises', ' x '));
    assert.notEqual(contentHash('Bitcoin rises', 'x'), contentHash('Bitcoin falls', 'x'));
  });

  it('refuses an item without a title as INVALID_EVENT', () => {
    assert.throws(
      () => toNewsItem({ ...base, title: '  ', url: 'https://a.io/n' }),
      (e: unknown) => e instanceof TickcastError && e.code === 'INVALID_EVENT',
    );
  });
});

describe('SeenArticles', () => {
  it('lets an item through once, by URL and by content hash', () => {
    const seen = new SeenArticles();
    const a = toNewsItem({ ...base, title: 'ETH up', url: 'https://a.io/1' });
    const sameUrl = toNewsItem({ ...base, title: 'ETH up (updated)', url: 'https://a.io/1?utm_source=x' });
    const sameContent = toNewsItem({ ...base, title: 'ETH up', url: 'https://b.io/syndicated' });
    const other = toNewsItem({ ...base, title: 'BTC down', url: 'https://a.io/2' });
    assert.equal(seen.firstSighting(a), true);
    assert.equal(seen.firstSighting(sameUrl), false);
    assert.equal(seen.firstSighting(sameContent), false);
    assert.equal(seen.firstSighting(other), true);
  });

  it('forgets the oldest entries beyond its capacity', () => {
    const seen = new SeenArticles(1);
    const a = toNewsItem({ ...base, title: 'one', url: 'https://a.io/1' });
    const b = toNewsItem({ ...base, title: 'two', url: 'https://a.io/2' });
    assert.equal(seen.firstSighting(a), true);
    assert.equal(seen.firstSighting(b), true);
    assert.equal(seen.firstSighting(a), true);
  });

  it('counts an item seen again as the most recent, so a feed re-listing it keeps it remembered', () => {
    const seen = new SeenArticles(2);
    const a = toNewsItem({ ...base, title: 'one', url: 'https://a.io/1' });
    const b = toNewsItem({ ...base, title: 'two', url: 'https://a.io/2' });
    const c = toNewsItem({ ...base, title: 'three', url: 'https://a.io/3' });
    assert.equal(seen.firstSighting(a), true);
    assert.equal(seen.firstSighting(b), true);
    assert.equal(seen.firstSighting(a), false, 're-listed: a is now more recent than b');
    assert.equal(seen.firstSighting(c), true, 'c takes the room of b, the least recently seen');
    assert.equal(seen.firstSighting(a), false, 'a is still remembered');
    assert.equal(seen.firstSighting(b), true, 'b was forgotten');
  });
});
