// Key indicators of the newest closed 1m candle, with a word on what the value means.
import { el, fill, number, percent } from './dom.js';

const SHOWN = [
  {
    name: 'rsi_14',
    label: 'RSI 14',
    format: (v) => number(v, 1),
    hint: (v) => (v >= 70 ? 'overbought' : v <= 30 ? 'oversold' : ''),
  },
  { name: 'macd', label: 'MACD', format: (v) => number(v, 2) },
  { name: 'macd_signal', label: 'MACD signal', format: (v) => number(v, 2) },
  {
    name: 'macd_hist',
    label: 'MACD hist',
    format: (v) => number(v, 2),
    hint: (v) => (v > 0 ? 'bullish' : v < 0 ? 'bearish' : ''),
  },
  {
    name: 'bb_percent_b',
    label: 'Bollinger %b',
    format: (v) => number(v, 2),
    hint: (v) => (v > 1 ? 'above band' : v < 0 ? 'below band' : ''),
  },
  { name: 'bb_bandwidth', label: 'BB bandwidth', format: (v) => percent(v, 2) },
  { name: 'atr_14', label: 'ATR 14', format: (v) => number(v, 2) },
  { name: 'stoch_k', label: 'Stoch %K', format: (v) => number(v, 1) },
  { name: 'adx_14', label: 'ADX 14', format: (v) => number(v, 1), hint: (v) => (v >= 25 ? 'trending' : 'ranging') },
  { name: 'realized_vol_60', label: 'Realized vol 60', format: (v) => percent(v, 3) },
];

export function renderIndicators(set) {
  const caption = document.querySelector('[data-testid="indicators-time"]');
  if (!set) {
    caption.textContent = '';
    fill('indicators', el('p', { class: 'muted', 'data-testid': 'indicators-empty' }, 'no indicators yet'));
    return;
  }
  caption.textContent = `candle ${set.openTime.slice(11, 16)} UTC`;
  const values = new Map(set.values.map((v) => [v.name, v.value]));
  fill(
    'indicators',
    el(
      'dl',
      { class: 'indicators' },
      ...SHOWN.flatMap(({ name, label, format, hint }) => {
        const value = values.get(name);
        const note = value === null || value === undefined ? 'warming up' : (hint?.(value) ?? '');
        return [
          el('dt', {}, label),
          el(
            'dd',
            { 'data-testid': `indicator-${name}` },
            format(value),
            note ? el('small', {}, ` ${note}`) : undefined,
          ),
        ];
      }),
    ),
  );
}
