/**
 * LLM answers kept by (prompt version, model, article content hash, coins asked): the same
 * article re-delivered, replayed or syndicated under another URL is not paid for twice,
 * and a new prompt version never reuses an answer to the old one. Bounded (lru-cache),
 * least recently used first out.
 */
import { LRUCache } from 'lru-cache';
import type { CoinScore } from './scorer.ts';

export function cacheKey(promptVersion: string, model: string, contentHash: string, coins: readonly string[]): string {
  return JSON.stringify([promptVersion, model, contentHash, [...coins].sort()]);
}

export class ScoreCache extends LRUCache<string, readonly CoinScore[]> {
  constructor(capacity = 10_000) {
    super({ max: capacity });
  }
}
