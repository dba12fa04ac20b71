/**
 * Rolling sentiment per coin: the signals of recent article publish time, one per article (a
 * re-scored article replaces its earlier signal), and the 1h/4h/24h windows ending at each
 * article's publish time. Event time, not arrival time, so a replay of old headlines yields
 * the features those hours had, and the result does not depend on the order signals arrive
 * in: the extractor scores news partitions side by side, and after a crash it re-scores some,
 * so a coin's signals arrive out of publish order. A late signal re-computes every window
 * that ends at or after it (`featuresFrom`), within `ALLOWED_LATENESS`.
 */
import { z } from 'zod';
import type { SentimentFeature, SentimentSignal, SentimentWindow } from '../../schema/events.ts';

export const WINDOWS: Readonly<Record<SentimentWindow, number>> = {
  '1h': 3_600_000,
  '4h': 14_400_000,
  '24h': 86_400_000,
};
const LONGEST = 86_400_000;
/** How far behind its coin's newest article a signal may arrive and still count. */
export const ALLOWED_LATENESS = 7 * 86_400_000;
/** Entries kept: the longest window behind the oldest time a late signal may still have. */
const RETENTION = LONGEST + ALLOWED_LATENESS;

const entrySchema = z.object({
  articleId: z.string(),
  at: z.number(),
  score: z.number(),
  label: z.enum(['BULLISH', 'NEUTRAL', 'BEARISH']),
});
export const coinWindowStateSchema = z.object({ entries: z.array(entrySchema) });
export type CoinWindowState = z.infer<typeof coinWindowStateSchema>;

export const initialCoinWindowState = (): CoinWindowState => ({ entries: [] });

/** Adds the signal; returns false when it is more than `ALLOWED_LATENESS` behind the coin's newest. */
export function addSignal(state: CoinWindowState, signal: SentimentSignal): boolean {
  const newest = Math.max(signal.publishedAt, ...state.entries.map((e) => e.at));
  if (signal.publishedAt <= newest - ALLOWED_LATENESS) return false;
  state.entries = state.entries.filter((e) => e.articleId !== signal.articleId && e.at > newest - RETENTION);
  state.entries.push({ articleId: signal.articleId, at: signal.publishedAt, score: signal.score, label: signal.label });
  state.entries.sort((a, b) => a.at - b.at || a.articleId.localeCompare(b.articleId));
  return true;
}

/** The three windows ending at `asOf` (inclusive), oldest boundary exclusive. */
export function windowFeaturesAt(state: CoinWindowState, coin: string, asOf: number): SentimentFeature[] {
  return (Object.entries(WINDOWS) as [SentimentWindow, number][]).flatMap(([window, ms]) => {
    const inWindow = state.entries.filter((e) => e.at > asOf - ms && e.at <= asOf);
    const count = inWindow.length;
    if (count === 0) return [];
    const share = (label: string): number => inWindow.filter((e) => e.label === label).length / count;
    return [
      {
        v: 1,
        coin,
        window,
        asOf,
        meanScore: inWindow.reduce((sum, e) => sum + e.score, 0) / count,
        count,
        bullishRatio: share('BULLISH'),
        bearishRatio: share('BEARISH'),
      },
    ];
  });
}

/** The three windows ending at the newest entry. */
export function windowFeatures(state: CoinWindowState, coin: string): SentimentFeature[] {
  const asOf = state.entries.at(-1)?.at;
  return asOf === undefined ? [] : windowFeaturesAt(state, coin, asOf);
}

/**
 * The windows ending at every entry published at or after `from`: what a signal published at
 * `from` changes. In order, that is the newest entry alone; a late signal also changes the
 * windows of the articles published after it.
 */
export function featuresFrom(state: CoinWindowState, coin: string, from: number): SentimentFeature[] {
  const times = [...new Set(state.entries.filter((e) => e.at >= from).map((e) => e.at))];
  return times.flatMap((asOf) => windowFeaturesAt(state, coin, asOf));
}
