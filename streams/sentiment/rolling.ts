/**
 * Rolling sentiment per coin: the signals of the last 24 hours of article publish time,
 * one per article (a re-scored article replaces its earlier signal), and the 1h/4h/24h
 * windows ending at the newest publish time seen. Event time, not arrival time, so a
 * replay of old headlines yields the features those hours had.
 */
import { z } from 'zod';
import type { SentimentFeature, SentimentSignal, SentimentWindow } from '../../schema/events.ts';

export const WINDOWS: Readonly<Record<SentimentWindow, number>> = {
  '1h': 3_600_000,
  '4h': 14_400_000,
  '24h': 86_400_000,
};
const LONGEST = 86_400_000;

const entrySchema = z.object({
  articleId: z.string(),
  at: z.number(),
  score: z.number(),
  label: z.enum(['BULLISH', 'NEUTRAL', 'BEARISH']),
});
export const coinWindowStateSchema = z.object({ entries: z.array(entrySchema) });
export type CoinWindowState = z.infer<typeof coinWindowStateSchema>;

export const initialCoinWindowState = (): CoinWindowState => ({ entries: [] });

/** Adds the signal; returns false when it is older than the longest window behind the newest. */
export function addSignal(state: CoinWindowState, signal: SentimentSignal): boolean {
  const newest = Math.max(signal.publishedAt, ...state.entries.map((e) => e.at));
  if (signal.publishedAt <= newest - LONGEST) return false;
  state.entries = state.entries.filter((e) => e.articleId !== signal.articleId && e.at > newest - LONGEST);
  state.entries.push({ articleId: signal.articleId, at: signal.publishedAt, score: signal.score, label: signal.label });
  state.entries.sort((a, b) => a.at - b.at || a.articleId.localeCompare(b.articleId));
  return true;
}

/** The three windows ending at the newest entry (inclusive), oldest boundary exclusive. */
export function windowFeatures(state: CoinWindowState, coin: string): SentimentFeature[] {
  const asOf = state.entries.at(-1)?.at;
  if (asOf === undefined) return [];
  return (Object.entries(WINDOWS) as [SentimentWindow, number][]).map(([window, ms]) => {
    const inWindow = state.entries.filter((e) => e.at > asOf - ms && e.at <= asOf);
    const count = inWindow.length;
    const share = (label: string): number => inWindow.filter((e) => e.label === label).length / count;
    return {
      v: 1,
      coin,
      window,
      asOf,
      meanScore: inWindow.reduce((sum, e) => sum + e.score, 0) / count,
      count,
      bullishRatio: share('BULLISH'),
      bearishRatio: share('BEARISH'),
    };
  });
}
