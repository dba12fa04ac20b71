/**
 * `tickcast sentiment eval`: scores every headline of the real dataset with the offline
 * scorer and compares with the dataset's own sentiment class, twice: on title and text
 * (what the pipeline scores) and on the text alone (what the dataset's TextBlob label
 * appears to have been computed from). Also the per-coin signal labels the pipeline
 * would publish for the tagged coins.
 */
import { loadHeadlines } from '../news/headlines-csv.ts';
import { agreement, formatAgreement, type SentimentClass } from './agreement.ts';
import { tagCoins } from './coins.ts';
import { LexiconScorer, scoreText } from './lexicon.ts';
import type { SentimentLabel } from '../../schema/events.ts';

const CLASS_OF: Record<SentimentLabel, SentimentClass> = {
  BULLISH: 'positive',
  NEUTRAL: 'neutral',
  BEARISH: 'negative',
};

export async function evaluateOfflineScorer(path: string): Promise<string> {
  const { rows, unreadable } = await loadHeadlines(path);
  const labelled = rows.filter((r) => r.sentiment !== null);
  const scorer = new LexiconScorer();
  const both = labelled.map((r) => ({
    reference: r.sentiment!,
    predicted: CLASS_OF[scoreText(`${r.title}. ${r.text}`, null).label],
  }));
  const textOnly = labelled.map((r) => ({
    reference: r.sentiment!,
    predicted: CLASS_OF[scoreText(r.text, null).label],
  }));
  const perCoin = new Map<string, Record<SentimentLabel, number>>();
  let tagged = 0;
  for (const r of labelled) {
    const coins = tagCoins(r.title, r.text);
    if (coins.length > 0) tagged += 1;
    const { scores } = await scorer.score({ title: r.title, text: r.text, contentHash: '' }, coins);
    for (const s of scores) {
      const counts = perCoin.get(s.coin) ?? { BULLISH: 0, NEUTRAL: 0, BEARISH: 0 };
      counts[s.label] += 1;
      perCoin.set(s.coin, counts);
    }
  }
  const top = [...perCoin.entries()]
    .map(([coin, c]) => ({ coin, ...c, total: c.BULLISH + c.NEUTRAL + c.BEARISH }))
    .sort((a, b) => b.total - a.total)
    .slice(0, 8);
  return [
    `${path}: ${rows.length} rows read, ${unreadable} unreadable, ${labelled.length} with a sentiment class`,
    `offline scorer: ${scorer.name}`,
    '',
    formatAgreement('title + text vs dataset class', agreement(both), 'dataset', 'lexicon'),
    '',
    formatAgreement('text only vs dataset class', agreement(textOnly), 'dataset', 'lexicon'),
    '',
    `coin tagging: ${tagged} of ${labelled.length} articles mention a known coin; per-coin signal labels:`,
    ...top.map(
      (t) =>
        `  ${t.coin.padEnd(6)} ${String(t.total).padStart(5)}   bullish ${t.BULLISH}, neutral ${t.NEUTRAL}, bearish ${t.BEARISH}`,
    ),
  ].join('\n');
}
