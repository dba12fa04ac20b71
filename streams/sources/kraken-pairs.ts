/**
 * Pair names. Inside tickcast (and on Kraken WebSocket v2) a pair is written "BTC/USD".
 * Kraken's REST API names pairs by their legacy "altname" ("XBTUSD"): no separator and
 * legacy asset codes for a few assets (XBT for BTC, XDG for DOGE).
 * Doc: https://docs.kraken.com/exchange/api-reference/spot-websocket (v2 vs v1: "Symbol
 * format XBT/USD vs BTC/USD") and https://docs.kraken.com/exchange/guides/general/historical-data
 * ("pair: Instrument name (e.g. XBTUSD)").
 */
import type { Pair } from '../../schema/events.ts';

/** Assets whose REST code differs from the v2 code. Add rows here, not special cases in code. */
const V2_TO_REST_ASSET: Readonly<Record<string, string>> = {
  BTC: 'XBT',
  DOGE: 'XDG',
};

const REST_TO_V2_ASSET: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(V2_TO_REST_ASSET).map(([v2, rest]) => [rest, v2]),
);

/**
 * Quote currencies recognised when splitting a REST altname (which has no separator),
 * longest first so "USDT" wins over "USD". Written in REST codes.
 */
const REST_QUOTES: readonly string[] = [
  'PYUSD',
  'USDT',
  'USDC',
  'USD',
  'EUR',
  'GBP',
  'CAD',
  'JPY',
  'CHF',
  'AUD',
  'DAI',
  'XBT',
  'ETH',
];

function restAsset(v2: string): string {
  return V2_TO_REST_ASSET[v2] ?? v2;
}

function v2Asset(rest: string): string {
  return REST_TO_V2_ASSET[rest] ?? rest;
}

/** "BTC/USD" -> "XBTUSD". */
export function toRestPair(pair: Pair): string {
  const [base, quote] = pair.split('/');
  if (!base || !quote) throw new Error(`pair must look like BTC/USD, got "${pair}"`);
  return restAsset(base) + restAsset(quote);
}

/** "XBTUSD" -> "BTC/USD"; also accepts "XBT/USD". Null when the quote is not in the table. */
export function fromRestPair(rest: string): Pair | null {
  const name = rest.toUpperCase();
  if (name.includes('/')) {
    const [base, quote] = name.split('/');
    return base && quote ? `${v2Asset(base)}/${v2Asset(quote)}` : null;
  }
  for (const quote of REST_QUOTES) {
    if (name.length > quote.length && name.endsWith(quote)) {
      return `${v2Asset(name.slice(0, -quote.length))}/${v2Asset(quote)}`;
    }
  }
  return null;
}
