/**
 * The offline scorer: a crypto-aware lexicon, no network and no model. Words that move
 * crypto prices in headlines ("surge", "ETF approval", "hack", "liquidated", "depeg")
 * carry a weight of ±1 or ±2; a negation ("not", "no", "fails to", "-n't") within three
 * words before flips the next one. Each coin is scored on the sentences that mention it
 * (the whole article when none does), so "BTC rallies while LUNA collapses" gives BTC and
 * LUNA opposite scores. Its agreement with the headline dataset's labels is measured by
 * `tickcast sentiment eval` (README).
 */
import { coinMentions } from './coins.ts';
import { labelOf, type ArticleText, type CoinScore, type ScoredArticle, type SentimentScorer } from './scorer.ts';

/** Bump when the word list or the formula changes: signals record it in `scorer`. */
export const LEXICON_VERSION = 'v1';

/** Terms by weight, `|`-separated; a term may be a phrase ("all-time high", "rug pull"). */
const TERMS: Readonly<Record<string, string>> = {
  '2': [
    'surge|surges|surged|surging|soar|soars|soared|soaring|rally|rallies|rallied|rallying|skyrocket|',
    'skyrockets|skyrocketed|all-time high|all time high|ath|bullish|breakout|breaks out|approve|approves|',
    'approved|approval|moon|green light',
  ].join(''),
  '1': [
    'jump|jumps|jumped|gain|gains|gained|rise|rises|rising|rose|climb|climbs|climbed|up|higher|high|highs|',
    'record|bull|bulls|recover|recovers|recovered|recovery|rebound|rebounds|rebounded|outperform|',
    'outperforms|outperforming|boost|boosts|boosted|adoption|adopt|adopts|launch|launches|launched|',
    'partnership|partners|integrate|integrates|upgrade|inflow|inflows|accumulate|accumulating|',
    'accumulation|buy|buys|bought|invest|invests|investment|raises|raised|funding|profit|profits|growth|',
    'grows|win|wins|success|successful|optimism|optimistic|positive|strong|stronger|pump|pumps|legal|',
    'short squeeze|milestone|expands|expansion',
  ].join(''),
  '-1': [
    'dump|dumps|dumped|drop|drops|dropped|fall|falls|fell|falling|decline|declines|declined|down|lower|',
    'low|lows|sink|sinks|sank|slide|slides|slip|slips|loss|losses|lose|loses|lost|bear|bears|lawsuit|sue|',
    'sues|sued|charges|charged|fine|fined|penalty|halt|halts|halted|outage|freeze|freezes|frozen|outflow|',
    'outflows|fear|fears|warning|warns|risk|risks|risky|concern|concerns|weak|weaker|bleed|bleeding|',
    'layoffs|recession|inflation|volatile|uncertainty|negative',
  ].join(''),
  '-2': [
    'crash|crashes|crashed|crashing|plunge|plunges|plunged|plunging|collapse|collapses|collapsed|tumble|',
    'tumbles|tumbled|slump|slumps|slumped|bearish|bear market|selloff|sell-off|capitulation|liquidation|',
    'liquidations|liquidated|hack|hacked|hacker|hackers|exploit|exploited|stolen|theft|scam|scams|fraud|',
    'ponzi|rug pull|ban|bans|banned|crackdown|arrest|arrested|bankrupt|bankruptcy|insolvent|insolvency|',
    'depeg|depegs|depegged|delist|delists|delisted|panic|worst|contagion',
  ].join(''),
};

const WEIGHTS: ReadonlyMap<string, number> = new Map(
  Object.entries(TERMS).flatMap(([weight, terms]) =>
    terms.split('|').map((t): [string, number] => [t, Number(weight)]),
  ),
);
const LONGEST_PHRASE = Math.max(...[...WEIGHTS.keys()].map((k) => k.split(' ').length));
const NEGATORS = new Set(['not', 'no', 'never', 'without', 'fails', 'failed', 'unlikely', 'nor', 'cannot']);
const NEGATION_REACH = 3;

const tokens = (text: string): string[] => text.toLowerCase().match(/[a-z0-9]+(?:['’-][a-z0-9]+)*/g) ?? [];

interface Hit {
  readonly term: string;
  readonly weight: number;
}

/** The sentiment-bearing terms of `text` with their (possibly negated) weights. */
export function lexiconHits(text: string): Hit[] {
  const words = tokens(text);
  const hits: Hit[] = [];
  let negatedUntil = -1;
  for (let i = 0; i < words.length;) {
    const word = words[i] ?? '';
    if (NEGATORS.has(word) || /n['’]t$/.test(word)) {
      negatedUntil = i + NEGATION_REACH;
      i += 1;
      continue;
    }
    let matched = false;
    for (let n = LONGEST_PHRASE; n >= 1 && !matched; n -= 1) {
      const term = words.slice(i, i + n).join(' ');
      const weight = WEIGHTS.get(term);
      if (weight === undefined) continue;
      const negated = i <= negatedUntil;
      hits.push({ term: negated ? `not ${term}` : term, weight: negated ? -weight : weight });
      negatedUntil = -1;
      i += n;
      matched = true;
    }
    if (!matched) i += 1;
  }
  return hits;
}

/** Sum of weights squashed into (-1, 1): one ±1 word gives ±0.33, ±2 gives ±0.5, ±4 gives ±0.67. */
export function scoreOf(hits: readonly Hit[]): number {
  const raw = hits.reduce((sum, h) => sum + h.weight, 0);
  return raw / (Math.abs(raw) + 2);
}

export function scoreText(text: string, coin: string | null): Omit<CoinScore, 'coin'> {
  const hits = lexiconHits(text);
  const score = scoreOf(hits);
  // More evidence, more confidence; a lexicon never claims certainty.
  const confidence = Math.min(0.8, 0.3 + 0.1 * hits.length);
  const about = coin === null ? 'the article' : coin;
  const listed = (sign: 1 | -1): string =>
    hits
      .filter((h) => Math.sign(h.weight) === sign)
      .map((h) => `"${h.term}"`)
      .join(', ');
  const reason =
    hits.length === 0
      ? `No sentiment-bearing words about ${about}.`
      : `Lexicon words about ${about}: ${[listed(1) && `positive ${listed(1)}`, listed(-1) && `negative ${listed(-1)}`]
          .filter(Boolean)
          .join('; ')}.`;
  return { score, label: labelOf(score), confidence, reason };
}

/** The sentences of the title and text that mention `coin`; all of them when none does. */
export function sentencesAbout(article: Pick<ArticleText, 'title' | 'text'>, coin: string): string {
  const sentences = [article.title, ...article.text.split(/(?<=[.!?;])\s+/)].filter((s) => s.trim() !== '');
  const about = sentences.filter((s) => coinMentions(s).some((m) => m.coin === coin));
  return (about.length > 0 ? about : sentences).join(' ');
}

export class LexiconScorer implements SentimentScorer {
  readonly name = `lexicon:${LEXICON_VERSION}`;

  async score(article: ArticleText, coins: readonly string[]): Promise<ScoredArticle> {
    return {
      scorer: this.name,
      promptVersion: null,
      scores: coins.map((coin) => ({ coin, ...scoreText(sentencesAbout(article, coin), coin) })),
    };
  }
}
