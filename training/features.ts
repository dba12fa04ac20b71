/**
 * The model's input: one feature vector per indicator set, computed from that set alone
 * (the candle at time t and the indicator state it closed), so a feature can never see
 * a later candle. Every feature is stationary and scale-free: price-valued indicators are
 * taken relative to the close, bounded oscillators are divided by 100, returns and
 * volatilities are already unitless. A model trained on BTC at 28,000 USD applies unchanged
 * at 60,000 USD (tested by scaling every price).
 *
 * Left out: OBV (a cumulative sum with an arbitrary origin; the indicator set at t alone has
 * no stationary transform of it), and bb_middle/bb_upper/bb_lower (bb_middle is sma_20;
 * the bands are carried by bb_percent_b and bb_bandwidth).
 *
 * Extra inputs (e.g. sentiment): `featureVector(input, extra)` appends `extra` after the base
 * features, and `featureNames(extraNames)` lists their names in the same order; a model
 * records its `featureNames`, so a vector built with a different list is refused by
 * `predict`. An extra value that is null (not yet available) makes the vector null, like
 * a warming-up indicator. Example, once a sentiment stream exists:
 * `featureVector(set, [meanPolarityLastHour])` with `featureNames(['sentiment_polarity_1h'])`.
 */

/** What a feature vector is computed from: structurally an `IndicatorSet` (schema/events.ts). */
export interface FeatureInput {
  readonly close: number;
  readonly values: Readonly<Record<string, number | null | undefined>>;
}

interface FeatureDefinition {
  readonly name: string;
  readonly compute: (v: (name: string) => number | null, close: number) => number | null;
}

/** value / close − 1: where a moving average sits relative to the price. */
const relativeToClose =
  (indicator: string) =>
  (v: (name: string) => number | null, close: number): number | null => {
    const x = v(indicator);
    return x === null ? null : x / close - 1;
  };
/** value / close: a price difference (MACD, ATR) as a fraction of the price. */
const perClose =
  (indicator: string) =>
  (v: (name: string) => number | null, close: number): number | null => {
    const x = v(indicator);
    return x === null ? null : x / close;
  };
/** value / 100: an oscillator bounded in [0, 100] mapped to [0, 1]. */
const percent =
  (indicator: string) =>
  (v: (name: string) => number | null): number | null => {
    const x = v(indicator);
    return x === null ? null : x / 100;
  };
/** Already unitless: returns, volatilities, %b, bandwidth. */
const asIs =
  (indicator: string) =>
  (v: (name: string) => number | null): number | null =>
    v(indicator);

const DEFINITIONS: readonly FeatureDefinition[] = [
  { name: 'sma_20_rel', compute: relativeToClose('sma_20') },
  { name: 'ema_12_rel', compute: relativeToClose('ema_12') },
  { name: 'ema_26_rel', compute: relativeToClose('ema_26') },
  { name: 'rsi_14', compute: percent('rsi_14') },
  { name: 'macd_rel', compute: perClose('macd') },
  { name: 'macd_signal_rel', compute: perClose('macd_signal') },
  { name: 'macd_hist_rel', compute: perClose('macd_hist') },
  { name: 'bb_percent_b', compute: asIs('bb_percent_b') },
  { name: 'bb_bandwidth', compute: asIs('bb_bandwidth') },
  { name: 'atr_14_rel', compute: perClose('atr_14') },
  { name: 'stoch_k', compute: percent('stoch_k') },
  { name: 'stoch_d', compute: percent('stoch_d') },
  { name: 'adx_14', compute: percent('adx_14') },
  { name: 'plus_di_14', compute: percent('plus_di_14') },
  { name: 'minus_di_14', compute: percent('minus_di_14') },
  { name: 'log_return_1', compute: asIs('log_return_1') },
  { name: 'log_return_5', compute: asIs('log_return_5') },
  { name: 'log_return_15', compute: asIs('log_return_15') },
  { name: 'realized_vol_15', compute: asIs('realized_vol_15') },
  { name: 'realized_vol_60', compute: asIs('realized_vol_60') },
];

/** The base feature names, in vector order. */
export const FEATURE_NAMES: readonly string[] = Object.freeze(DEFINITIONS.map((d) => d.name));

/** The names of a vector built with `extra` values named `extraNames`. */
export function featureNames(extraNames: readonly string[] = []): string[] {
  const names = [...FEATURE_NAMES, ...extraNames];
  if (new Set(names).size !== names.length) throw new Error(`duplicate feature names: ${names.join(', ')}`);
  return names;
}

/**
 * The feature vector at the candle `input` was computed at, or null while any input is
 * still warming up (null, missing or non-finite), or the close is not a positive number.
 */
export function featureVector(input: FeatureInput, extra: readonly (number | null)[] = []): number[] | null {
  const close = input.close;
  if (!(Number.isFinite(close) && close > 0)) return null;
  const v = (name: string): number | null => {
    const x = input.values[name];
    return x === null || x === undefined || !Number.isFinite(x) ? null : x;
  };
  const out: number[] = [];
  for (const d of DEFINITIONS) {
    const x = d.compute(v, close);
    if (x === null || !Number.isFinite(x)) return null;
    out.push(x);
  }
  for (const x of extra) {
    if (x === null || !Number.isFinite(x)) return null;
    out.push(x);
  }
  return out;
}
