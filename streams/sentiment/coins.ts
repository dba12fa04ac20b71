/**
 * Coin tagging: which coins an article is about, from tickers (upper case, optionally
 * `$`-prefixed, so "link" or "dot" in prose are not tickers) and names or aliases (any
 * case, whole words). Longer matches win over the shorter ones inside them, so "Ethereum
 * Classic" is ETC, not ETH, and "Terra USD" is UST, not LUNA. Only tagged coins are sent to
 * the LLM, so it is never asked about a coin the article does not mention.
 */

interface CoinDefinition {
  readonly ticker: string;
  /** Lower-case names and aliases, matched as whole words in any case. */
  readonly names: readonly string[];
  /** Extra upper-case tickers for the same coin (e.g. Kraken's XBT). */
  readonly tickers?: readonly string[];
}

export const COINS: readonly CoinDefinition[] = [
  { ticker: 'BTC', names: ['bitcoin', 'bitcoins', 'btc'], tickers: ['XBT'] },
  { ticker: 'ETH', names: ['ethereum', 'ether', 'eth'] },
  { ticker: 'ETC', names: ['ethereum classic'] },
  { ticker: 'SOL', names: ['solana'] },
  { ticker: 'ADA', names: ['cardano'] },
  { ticker: 'XRP', names: ['ripple', 'xrp'] },
  { ticker: 'DOGE', names: ['dogecoin', 'doge'] },
  { ticker: 'SHIB', names: ['shiba inu'] },
  { ticker: 'DOT', names: ['polkadot'] },
  { ticker: 'LUNA', names: ['terra', 'terra luna', 'luna'] },
  { ticker: 'UST', names: ['terrausd', 'terra usd', 'ust stablecoin'] },
  { ticker: 'USDT', names: ['tether', 'usdt'] },
  { ticker: 'USDC', names: ['usd coin', 'usdc'] },
  { ticker: 'BNB', names: ['binance coin', 'bnb'] },
  { ticker: 'AVAX', names: ['avalanche'] },
  { ticker: 'MATIC', names: ['polygon'] },
  { ticker: 'LTC', names: ['litecoin'] },
  { ticker: 'LINK', names: ['chainlink'] },
  { ticker: 'ATOM', names: ['cosmos'] },
  { ticker: 'TRX', names: ['tron'] },
  { ticker: 'XMR', names: ['monero'] },
  { ticker: 'ALGO', names: ['algorand'] },
  { ticker: 'XLM', names: ['stellar lumens', 'stellar'] },
  { ticker: 'UNI', names: ['uniswap'] },
  { ticker: 'NEAR', names: ['near protocol'] },
  { ticker: 'CEL', names: ['celsius token'] },
];

interface Pattern {
  readonly coin: string;
  readonly regex: RegExp;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s+');

const PATTERNS: readonly Pattern[] = COINS.flatMap((c) => [
  ...[c.ticker, ...(c.tickers ?? [])].map((t) => ({
    coin: c.ticker,
    regex: new RegExp(`(?<![A-Za-z0-9])\\$?${t}(?![A-Za-z0-9])`, 'g'),
  })),
  ...c.names.map((n) => ({
    coin: c.ticker,
    regex: new RegExp(`(?<![\\p{L}\\p{N}])${escape(n)}(?![\\p{L}\\p{N}])`, 'giu'),
  })),
]);

/** Every coin mention in `text` as [start, end) spans, longest first where they overlap. */
export function coinMentions(text: string): { coin: string; start: number; end: number }[] {
  const all: { coin: string; start: number; end: number }[] = [];
  for (const { coin, regex } of PATTERNS) {
    for (const m of text.matchAll(regex)) all.push({ coin, start: m.index, end: m.index + m[0].length });
  }
  all.sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: typeof all = [];
  for (const m of all) {
    if (!kept.some((k) => m.start < k.end && k.start < m.end)) kept.push(m);
  }
  return kept.sort((a, b) => a.start - b.start);
}

/** The coins an article mentions, in order of first mention, plus those its source tagged. */
export function tagCoins(title: string, text: string, sourceCoins: readonly string[] = []): string[] {
  const found = coinMentions(`${title}\n${text}`).map((m) => m.coin);
  return [...new Set([...found, ...sourceCoins])];
}

/** The coin a market trades, "BTC/USD" -> "BTC" (Kraken's XBT is BTC). */
export function coinOfPair(pair: string): string {
  const base = pair.split('/')[0] ?? pair;
  return base === 'XBT' ? 'BTC' : base;
}
