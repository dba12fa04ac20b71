// The candle chart: hand-drawn SVG, 1m candles with one horizon's predictions overlaid
// (the 90% interval as a band over past targets, the newest prediction as a whisker ahead
// of the last candle). Redraws at most once per animation frame.
const SVG = 'http://www.w3.org/2000/svg';
const MINUTE = 60_000;
const MAX_CANDLES = 120;
const MAX_PREDICTIONS = 400;
const PAD = { left: 8, right: 72, top: 12, bottom: 24 };

function node(tag, attributes = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) n.setAttribute(name, String(value));
  if (text !== undefined) n.textContent = text;
  return n;
}

/** Round steps (1, 2, 2.5, 5 × 10^n) giving about `count` ticks over [min, max]. */
function ticks(min, max, count) {
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const result = [];
  for (let v = Math.ceil(min / step) * step; v <= max; v += step) result.push(v);
  return result;
}

export class CandleChart {
  constructor(svg) {
    this.svg = svg;
    /** Candles by open time (ms), oldest first. */
    this.candles = [];
    /** Predictions per horizon, by target time. */
    this.predictions = new Map();
    this.horizon = undefined;
    this.pending = false;
    new ResizeObserver(() => this.schedule()).observe(svg);
  }

  reset() {
    this.candles = [];
    this.predictions = new Map();
    this.schedule();
  }

  setCandles(candles) {
    this.candles = candles.map((c) => ({ ...c, t: Date.parse(c.openTime) })).slice(-MAX_CANDLES);
    this.schedule();
  }

  /** An in-progress update replaces the open candle; a new window appends. */
  upsertCandle(candle) {
    const t = Date.parse(candle.openTime);
    const last = this.candles.at(-1);
    if (last && t < last.t) return; // older than what is drawn
    if (last && t === last.t) this.candles[this.candles.length - 1] = { ...candle, t };
    else this.candles.push({ ...candle, t });
    if (this.candles.length > MAX_CANDLES) this.candles.shift();
    this.schedule();
  }

  addPredictions(predictions) {
    for (const p of predictions) {
      const list = this.predictions.get(p.horizonMinutes) ?? [];
      // Drawn over the middle of the candle whose close they predict (targetTime is that close).
      const entry = { ...p, target: Date.parse(p.targetTime), made: Date.parse(p.madeAt) };
      const index = list.findIndex((q) => q.target >= entry.target);
      if (index === -1) list.push(entry);
      else if (list[index].target === entry.target) list[index] = entry;
      else list.splice(index, 0, entry);
      if (list.length > MAX_PREDICTIONS) list.shift();
      this.predictions.set(p.horizonMinutes, list);
    }
    this.schedule();
  }

  setHorizon(horizon) {
    this.horizon = horizon;
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render() {
    const width = this.svg.clientWidth || 800;
    const height = this.svg.clientHeight || 380;
    this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const candles = this.candles;
    if (candles.length === 0) {
      this.svg.replaceChildren(
        node('text', { x: width / 2, y: height / 2, class: 'empty', 'text-anchor': 'middle' }, 'waiting for candles…'),
      );
      this.svg.dataset.candles = '0';
      return;
    }
    const first = candles[0].t;
    const now = candles.at(-1).t + MINUTE;
    const all = this.predictions.get(this.horizon) ?? [];
    const latest = all.at(-1);
    const visible = all.filter((p) => p.target >= first);
    const end = Math.max(now, latest ? latest.target : now) + MINUTE;

    let low = Infinity;
    let high = -Infinity;
    for (const c of candles) {
      low = Math.min(low, c.low);
      high = Math.max(high, c.high);
    }
    for (const p of visible) {
      low = Math.min(low, p.lowerBound ?? p.predictedPrice);
      high = Math.max(high, p.upperBound ?? p.predictedPrice);
    }
    const margin = (high - low) * 0.06 || high * 0.001 || 1;
    low -= margin;
    high += margin;

    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    const x = (t) => PAD.left + ((t - first) / (end - first)) * plotW;
    const y = (v) => PAD.top + ((high - v) / (high - low)) * plotH;
    /** A close time, drawn at the middle of its candle. */
    const tx = (close) => x(close - MINUTE / 2);
    const slot = plotW / ((end - first) / MINUTE);
    const bodyW = Math.max(1, slot * 0.7);

    const grid = node('g', { class: 'grid' });
    for (const v of ticks(low, high, 6)) {
      grid.append(node('line', { x1: PAD.left, x2: PAD.left + plotW, y1: y(v), y2: y(v) }));
      grid.append(node('text', { x: width - PAD.right + 6, y: y(v) + 4, class: 'axis' }, v.toLocaleString('en-US')));
    }
    for (let t = Math.ceil(first / (15 * MINUTE)) * 15 * MINUTE; t <= end; t += 15 * MINUTE) {
      grid.append(node('line', { x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + plotH }));
      const label = new Date(t).toISOString().slice(11, 16);
      grid.append(node('text', { x: x(t), y: height - 6, class: 'axis', 'text-anchor': 'middle' }, label));
    }

    const band = node('g', { class: 'prediction-history', 'data-testid': 'chart-prediction-band' });
    const withBounds = visible.filter((p) => p.lowerBound !== null && p.upperBound !== null);
    if (withBounds.length > 1) {
      const upper = withBounds.map((p) => `${tx(p.target)},${y(p.upperBound)}`);
      const lower = withBounds.map((p) => `${tx(p.target)},${y(p.lowerBound)}`).reverse();
      band.append(node('polygon', { class: 'band', points: [...upper, ...lower].join(' ') }));
    }
    if (visible.length > 1) {
      const line = visible.map((p) => `${tx(p.target)},${y(p.predictedPrice)}`).join(' ');
      band.append(node('polyline', { class: 'predicted', points: line }));
    }

    const bars = node('g', { class: 'candles' });
    for (const c of candles) {
      const cx = x(c.t + MINUTE / 2);
      const direction = c.close >= c.open ? 'up' : 'down';
      const top = y(Math.max(c.open, c.close));
      const g = node('g', { class: `candle ${direction}${c.final ? '' : ' live'}`, 'data-testid': 'candle' });
      g.append(node('line', { x1: cx, x2: cx, y1: y(c.high), y2: y(c.low) }));
      g.append(
        node('rect', {
          x: cx - bodyW / 2,
          y: top,
          width: bodyW,
          height: Math.max(1, y(Math.min(c.open, c.close)) - top),
        }),
      );
      bars.append(g);
    }

    const last = candles.at(-1);
    const overlay = node('g', { class: 'overlay' });
    overlay.append(node('line', { class: 'now', x1: x(now), x2: x(now), y1: PAD.top, y2: PAD.top + plotH }));
    overlay.append(
      node('line', { class: 'last', x1: PAD.left, x2: PAD.left + plotW, y1: y(last.close), y2: y(last.close) }),
    );
    overlay.append(
      node('rect', {
        class: 'last-tag',
        x: width - PAD.right + 2,
        y: y(last.close) - 9,
        width: PAD.right - 4,
        height: 18,
        rx: 3,
      }),
    );
    overlay.append(
      node(
        'text',
        { class: 'last-label', x: width - PAD.right + 6, y: y(last.close) + 4 },
        last.close.toLocaleString('en-US'),
      ),
    );
    if (latest && latest.target > first) {
      const g = node('g', { class: 'latest', 'data-testid': 'chart-prediction' });
      const px = tx(latest.target);
      // From the close it was made at (the candle ending at madeAt) to the predicted close.
      const base = candles.find((c) => c.t + MINUTE === latest.made)?.close ?? last.close;
      g.append(node('line', { class: 'path', x1: tx(latest.made), y1: y(base), x2: px, y2: y(latest.predictedPrice) }));
      if (latest.lowerBound !== null && latest.upperBound !== null) {
        g.append(
          node('line', { class: 'whisker', x1: px, x2: px, y1: y(latest.upperBound), y2: y(latest.lowerBound) }),
        );
        for (const v of [latest.upperBound, latest.lowerBound]) {
          g.append(node('line', { class: 'whisker', x1: px - 5, x2: px + 5, y1: y(v), y2: y(v) }));
        }
      }
      g.append(node('circle', { class: 'dot', cx: px, cy: y(latest.predictedPrice), r: 4 }));
      overlay.append(g);
    }

    this.svg.replaceChildren(grid, band, bars, overlay);
    this.svg.dataset.candles = String(candles.length);
  }
}
