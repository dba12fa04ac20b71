/**
 * A source's memory of what it already delivered, by canonical URL and by content hash,
 * so a feed that re-lists its items on every poll, or two outlets syndicating one story,
 * publish it once. Bounded: the oldest entries are forgotten first. This memory is per
 * process; what survives a restart is the extractor's per-article state and the store's
 * upserts keyed by article id.
 */
import type { NewsItem } from '../../schema/events.ts';

export class SeenArticles {
  private readonly urls = new Set<string>();
  private readonly hashes = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  /** True the first time an item's URL and content are seen; records it either way. */
  firstSighting(item: NewsItem): boolean {
    const urlSeen = item.url !== null && this.urls.has(item.url);
    const hashSeen = this.hashes.has(item.contentHash);
    if (item.url !== null) remember(this.urls, item.url, this.capacity);
    remember(this.hashes, item.contentHash, this.capacity);
    return !urlSeen && !hashSeen;
  }
}

/** Adds `value` as the newest entry, evicting the oldest beyond `capacity` (Sets keep insertion order). */
function remember(set: Set<string>, value: string, capacity: number): void {
  set.delete(value);
  set.add(value);
  if (set.size > capacity) {
    const oldest = set.values().next().value;
    if (oldest !== undefined) set.delete(oldest);
  }
}
