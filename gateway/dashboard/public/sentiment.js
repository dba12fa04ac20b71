// News sentiment for the pair's base coin: the summaries per window and the newest signals.
// The sentiment pipeline may have scored nothing yet; that is said plainly, not as an error.
import { dateTime, el, fill, number, percent } from './dom.js';

const WINDOWS = [
  ['h1', '1 h'],
  ['h4', '4 h'],
  ['h24', '24 h'],
];

export function renderSentiment(market, signals) {
  const summaries = WINDOWS.map(([key, label]) => [label, market?.[key] ?? null]);
  if (summaries.every(([, s]) => s === null) && signals.length === 0) {
    fill('sentiment', el('p', { class: 'muted', 'data-testid': 'sentiment-empty' }, 'no sentiment yet'));
    return;
  }
  const windows = el(
    'div',
    { class: 'windows' },
    ...summaries.map(([label, s]) =>
      el(
        'div',
        { class: 'window', 'data-testid': `sentiment-window-${label.replace(' ', '')}` },
        el('span', { class: 'muted' }, label),
        s
          ? el('strong', { class: s.meanScore > 0 ? 'up' : s.meanScore < 0 ? 'down' : '' }, number(s.meanScore, 2))
          : el('strong', { class: 'muted' }, '–'),
        el(
          'small',
          {},
          s ? `${s.count} · ${percent(s.bullishRatio, 0)} bull / ${percent(s.bearishRatio, 0)} bear` : 'none',
        ),
      ),
    ),
  );
  const list = el(
    'ul',
    { class: 'signals' },
    ...signals.map((s) =>
      el(
        'li',
        { 'data-testid': 'sentiment-signal' },
        el('span', { class: `label ${s.label.toLowerCase()}` }, s.label),
        ` ${number(s.score, 2)} `,
        el('span', {}, s.article.title),
        // The article's own publication time: the scoring time (createdAt) would show a
        // replayed 2021 headline as news of today.
        el(
          'small',
          { class: 'muted', 'data-testid': 'article-published' },
          ` ${s.article.source} · published ${dateTime(s.article.publishedAt)}`,
          s.article.replayed ? ' · replayed' : '',
        ),
      ),
    ),
  );
  fill('sentiment', windows, signals.length ? list : el('p', { class: 'muted' }, 'no scored articles yet'));
}
