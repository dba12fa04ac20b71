/**
 * LLM answers kept by (prompt version, model, article content hash, coins asked): the same
 * article re-delivered, replayed or syndicated under another URL is not paid for twice,
 * and a new prompt version never reuses an answer to the old one. Bounded, least recently
 * used first out.
 */
import type { CoinScore } from './scorer.ts';

export function cacheKey(promptVersion: string, model: string, contentHash: string, coins: readonly string[]): string {
  return JSON.stringify([promptVersion, model, contentHash, [...coins].sort()]);
}

export class ScoreCache {
  private readonly entries = new Map<string, readonly CoinScore[]>();

  constructor(private readonly capacity = 10_000) {}

  get(key: string): readonly CoinScore[] | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, scores: readonly CoinScore[]): void {
    this.entries.delete(key);
    this.entries.set(key, scores);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
