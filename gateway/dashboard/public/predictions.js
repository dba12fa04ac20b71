// The newest prediction per horizon: price, 90% interval, target and the version that made
// it. Clicking a horizon picks the one the chart overlays.
import { el, fill, number, price, time } from './dom.js';

export class PredictionsPanel {
  constructor(onSelect) {
    this.onSelect = onSelect;
    /** horizon → newest prediction */
    this.latest = new Map();
    this.selected = undefined;
    /** Until someone picks a horizon, the chart shows 5m when there is one, else the shortest. */
    this.picked = false;
    this.lastClose = undefined;
  }

  reset() {
    this.latest = new Map();
    this.selected = undefined;
    this.picked = false;
    this.render();
  }

  add(predictions) {
    for (const p of predictions) {
      const current = this.latest.get(p.horizonMinutes);
      if (!current || Date.parse(p.madeAt) >= Date.parse(current.madeAt)) this.latest.set(p.horizonMinutes, p);
    }
    const horizons = [...this.latest.keys()];
    const preferred = horizons.includes(5) ? 5 : Math.min(...horizons);
    if (!this.picked && horizons.length > 0 && preferred !== this.selected) this.select(preferred, false);
  }

  setLastClose(close) {
    this.lastClose = close;
  }

  select(horizon, picked = true) {
    this.picked ||= picked;
    this.selected = horizon;
    this.onSelect(horizon);
    this.render();
  }

  render() {
    const headline = document.querySelector('[data-testid="prediction-headline"]');
    const chosen = this.latest.get(this.selected);
    if (!chosen) {
      headline.replaceChildren(
        el('span', { class: 'muted', 'data-testid': 'prediction-waiting' }, 'waiting for the first prediction…'),
      );
      fill('predictions');
      return;
    }
    headline.replaceChildren(
      el('span', { class: 'muted' }, `${chosen.horizonMinutes}m ahead → ${time(chosen.targetTime)} `),
      el(
        'strong',
        { 'data-testid': 'latest-prediction', 'data-horizon': chosen.horizonMinutes, 'data-made-at': chosen.madeAt },
        price(chosen.predictedPrice),
      ),
      el('span', { class: 'muted' }, ` [${price(chosen.lowerBound)} – ${price(chosen.upperBound)}]`),
    );
    const rows = [...this.latest.values()]
      .sort((a, b) => a.horizonMinutes - b.horizonMinutes)
      .map((p) => {
        const change = this.lastClose ? (p.predictedPrice / this.lastClose - 1) * 100 : undefined;
        const row = el(
          'tr',
          {
            'data-testid': `prediction-row-${p.horizonMinutes}`,
            class: p.horizonMinutes === this.selected ? 'selected' : undefined,
            title: 'show this horizon on the chart',
          },
          el('td', {}, `${p.horizonMinutes}m`),
          el('td', { class: 'num' }, price(p.predictedPrice)),
          el('td', { class: 'num muted' }, `${price(p.lowerBound)} – ${price(p.upperBound)}`),
          el(
            'td',
            { class: `num ${change > 0 ? 'up' : change < 0 ? 'down' : ''}` },
            change === undefined ? '–' : `${number(change, 3)}%`,
          ),
          el('td', {}, time(p.targetTime)),
        );
        row.addEventListener('click', () => this.select(p.horizonMinutes));
        return row;
      });
    fill(
      'predictions',
      el(
        'table',
        {},
        el(
          'thead',
          {},
          el('tr', {}, ...['h', 'predicted', '90% interval', 'vs last', 'target'].map((h) => el('th', {}, h))),
        ),
        el('tbody', {}, ...rows),
      ),
      el(
        'p',
        { class: 'muted small', 'data-testid': 'prediction-models' },
        'served by ',
        [...this.latest.values()]
          .map(
            (p) =>
              `${p.modelVersion.modelName} v${p.modelVersion.version} (${p.modelVersion.aliases.join(', ') || 'no alias'})`,
          )
          .join(' · '),
      ),
    );
  }
}
