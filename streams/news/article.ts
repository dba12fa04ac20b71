/**
 * Identity of a news article across sources and restarts: the id comes from the canonical
 * URL (tracking parameters and fragments dropped), the content hash from the normalised
 * title and text. Both are pure functions of the article, so a re-poll, a replay after a
 * restart or a second feed carrying the same story produce the same values.
 */
import { createHash } from 'node:crypto';
import { TickcastError } from '../../lib/errors.ts';
import { newsItemSchema, type NewsFeed, type NewsItem } from '../../schema/events.ts';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Lower-case, NFKC, whitespace collapsed: formatting differences between feeds hash alike. */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** The URL without fragment, `utm_*` parameters or a trailing slash, host lower-cased; null when not a URL. */
export function canonicalUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  parsed.hash = '';
  for (const name of [...parsed.searchParams.keys()]) {
    if (name.toLowerCase().startsWith('utm_')) parsed.searchParams.delete(name);
  }
  parsed.protocol = 'https:';
  const text = parsed.toString();
  return text.endsWith('/') ? text.slice(0, -1) : text;
}

export function contentHash(title: string, text: string): string {
  return sha256(`${normaliseText(title)}\n${normaliseText(text)}`);
}

/** 24 hex digits of sha256(canonical URL), or of publisher and title for an article without one. */
export function articleId(url: string | null, source: string, title: string): string {
  const canonical = canonicalUrl(url);
  return sha256(canonical ?? `${normaliseText(source)}|${normaliseText(title)}`).slice(0, 24);
}

export interface ArticleFields {
  readonly title: string;
  readonly text: string;
  readonly url: string | null;
  readonly source: string;
  readonly feed: NewsFeed;
  readonly publishedAt: number;
  readonly sourceCoins?: readonly string[];
}

/** A validated NewsItem; a field no schema accepts (empty title, bad time) is INVALID_EVENT. */
export function toNewsItem(fields: ArticleFields): NewsItem {
  const title = fields.title.trim();
  const text = fields.text.trim();
  const candidate = {
    v: 1,
    id: articleId(fields.url, fields.source, title),
    title,
    text,
    url: canonicalUrl(fields.url) ?? null,
    source: fields.source.trim(),
    feed: fields.feed,
    publishedAt: fields.publishedAt,
    contentHash: contentHash(title, text),
    sourceCoins: [...new Set(fields.sourceCoins ?? [])],
  };
  const parsed = newsItemSchema.safeParse(candidate);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TickcastError('INVALID_EVENT', `news item from ${fields.feed} rejected: ${issues}`);
  }
  return parsed.data;
}

/**
 * Throws FUTURE_EVENT for an item published more than `maxAheadMs` after `now`: a feed's
 * bad date (a typo'd year, a time zone read as UTC the wrong way) must not place an
 * article in the future of every price it would be joined with.
 */
export function assertPublishedBy(item: NewsItem, now: number, maxAheadMs: number): void {
  if (item.publishedAt <= now + maxAheadMs) return;
  const at = new Date(item.publishedAt);
  throw new TickcastError(
    'FUTURE_EVENT',
    `news item ${item.id} from ${item.feed} is published at ${Number.isNaN(at.getTime()) ? item.publishedAt : at.toISOString()}, ` +
      `more than ${maxAheadMs} ms ahead of the wall clock (${new Date(now).toISOString()})`,
  );
}
