/**
 * A source's memory of what it already delivered, by canonical URL and by content hash,
 * so a feed that re-lists its items on every poll, or two outlets syndicating one story,
 * publish it once. Bounded (lru-cache): the entries seen least recently are forgotten
 * first. This memory is per process; what survives a restart is the extractor's
 * per-article state and the store's upserts keyed by article id.
 */
import { LRUCache } from 'lru-cache';
import type { NewsItem } from '../../schema/events.ts';

export class SeenArticles {
  private readonly urls: LRUCache<string, true>;
  private readonly hashes: LRUCache<string, true>;

  constructor(capacity = 10_000) {
    this.urls = new LRUCache<string, true>({ max: capacity });
    this.hashes = new LRUCache<string, true>({ max: capacity });
  }

  /** True the first time an item's URL and content are seen; records it either way (as the most recent). */
  firstSighting(item: NewsItem): boolean {
    const urlSeen = item.url !== null && this.urls.has(item.url);
    const hashSeen = this.hashes.has(item.contentHash);
    if (item.url !== null) this.urls.set(item.url, true);
    this.hashes.set(item.contentHash, true);
    return !urlSeen && !hashSeen;
  }
}
