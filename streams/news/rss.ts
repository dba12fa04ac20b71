/**
 * RSS 2.0 and Atom feeds of crypto outlets. Both become news items: RSS `<item>` (title,
 * link, description, pubDate) and Atom `<entry>` (title, link@href, summary|content,
 * published|updated). Entries without a title or a readable date are skipped and counted.
 */
import { XMLParser } from 'fast-xml-parser';
import { TickcastError } from '../../lib/errors.ts';
import type { NewsItem } from '../../schema/events.ts';
import { toNewsItem } from './article.ts';
import { conditionalGet, type Validators } from './http.ts';
import { newsItemsRejected } from './metrics.ts';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  // A feed's only item must still come back as a list.
  isArray: (name) => name === 'item' || name === 'entry' || name === 'link',
  processEntities: true,
  htmlEntities: true,
  // Text stays text: by default the parser reads a title "007" or "1.50" as the number 7 or 1.5.
  parseTagValue: false,
});

type Node = Record<string, unknown>;

/** The text of an element that may be a string, a number or `{ '#text': ... }` (CDATA, attributes). */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (value && typeof value === 'object' && '#text' in value) return text((value as Node)['#text']);
  return '';
}

/** Summaries often carry HTML: keep the words. */
function stripTags(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function atomLink(links: unknown): string | null {
  if (!Array.isArray(links)) return null;
  const nodes = links.filter((l): l is Node => typeof l === 'object' && l !== null);
  const alternate = nodes.find((l) => l['@rel'] === undefined || l['@rel'] === 'alternate') ?? nodes[0];
  const href = alternate?.['@href'];
  return typeof href === 'string' ? href : null;
}

export interface ParsedFeed {
  readonly items: NewsItem[];
  readonly rejected: number;
}

/** Items of an RSS 2.0 or Atom document; `source` names the outlet when the feed's title is missing. */
export function parseFeed(xml: string, fallbackSource: string): ParsedFeed {
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (cause) {
    throw new TickcastError('UPSTREAM_REJECTED', `feed of ${fallbackSource} is not XML`, { cause });
  }
  const channel = (doc['rss'] as Node | undefined)?.['channel'] as Node | undefined;
  const feed = doc['feed'] as Node | undefined;
  if (!channel && !feed) throw new TickcastError('UPSTREAM_REJECTED', `${fallbackSource} is neither RSS nor Atom`);
  const source = text((channel ?? feed)?.['title']).trim() || fallbackSource;
  const entries = ((channel ? channel['item'] : feed?.['entry']) ?? []) as Node[];
  const items: NewsItem[] = [];
  let rejected = 0;
  for (const entry of entries) {
    const link = channel ? text((entry['link'] as unknown[] | undefined)?.[0]) : atomLink(entry['link']);
    const date = text(entry['pubDate'] ?? entry['published'] ?? entry['updated'] ?? entry['dc:date']);
    const publishedAt = Date.parse(date);
    const summary = stripTags(text(entry['description'] ?? entry['summary'] ?? entry['content']));
    try {
      if (Number.isNaN(publishedAt)) throw new TickcastError('INVALID_EVENT', `entry without a date: ${date}`);
      items.push(
        toNewsItem({
          title: stripTags(text(entry['title'])),
          text: summary,
          url: link || null,
          source,
          feed: 'rss',
          publishedAt,
        }),
      );
    } catch (error) {
      if (!(error instanceof TickcastError)) throw error;
      rejected += 1;
      newsItemsRejected.inc({ feed: 'rss', reason: 'malformed' });
    }
  }
  return { items, rejected };
}

/** One feed URL with the validators of its last answer, so the next poll is conditional. */
export class FeedClient {
  private validators: Validators = {};

  constructor(
    readonly url: string,
    private readonly timeoutMs: number,
  ) {}

  async fetchItems(): Promise<ParsedFeed> {
    const response = await conditionalGet(this.url, this.validators, {
      timeoutMs: this.timeoutMs,
      accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5',
    });
    if (response.status === 'not-modified') return { items: [], rejected: 0 };
    const parsed = parseFeed(response.body, new URL(this.url).hostname);
    this.validators = response.validators;
    return parsed;
  }
}
