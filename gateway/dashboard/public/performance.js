// How the models serving this pair are doing: live rolling error per version and horizon
// (modelPerformance) next to the holdout error and persistence baseline of the version
// (its training run's metrics), and which version is champion.
import { el, fill, number, percent } from './dom.js';

export function renderPerformance(pair, performance, models) {
  const prefix = `tickcast-${pair.toLowerCase().replace('/', '-')}-`;
  const byName = new Map(models.filter((m) => m.name.startsWith(prefix)).map((m) => [m.name, m]));
  const rows = performance
    .slice()
    .sort((a, b) => a.horizonMinutes - b.horizonMinutes || Number(b.version) - Number(a.version))
    .map((p) => {
      const model = byName.get(p.modelName);
      const version = model?.versions.find((v) => v.version === p.version);
      const champion = model?.champion?.version === p.version;
      const aliases = champion ? 'champion' : (version?.aliases.join(', ') ?? '');
      const beats = version?.metrics.mae !== null && version?.metrics.mae < version?.metrics.baselineMae;
      return el(
        'tr',
        { 'data-testid': `performance-row-${p.horizonMinutes}` },
        el('td', {}, `${p.horizonMinutes}m`),
        el('td', {}, `v${p.version} `, el('small', { class: champion ? 'up' : 'muted' }, aliases)),
        el('td', { class: 'num' }, String(p.count)),
        el('td', { class: 'num', 'data-testid': `performance-mae-${p.horizonMinutes}` }, number(p.mae)),
        el('td', { class: 'num' }, percent(p.intervalCoverage)),
        el('td', { class: 'num' }, percent(p.directionalAccuracy)),
        el(
          'td',
          {
            class: 'num muted',
            title: beats ? 'beats persistence on the holdout' : 'does not beat persistence on the holdout',
          },
          `${number(version?.metrics.mae)} / ${number(version?.metrics.baselineMae)}`,
        ),
      );
    });
  if (rows.length === 0) {
    fill(
      'model-performance',
      el('p', { class: 'muted', 'data-testid': 'performance-empty' }, 'no scored predictions yet'),
    );
    return;
  }
  fill(
    'model-performance',
    el(
      'table',
      {},
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['h', 'version', 'n', 'MAE $', '90% cov.', 'dir. acc', 'holdout / persistence MAE'].map((h) =>
            el('th', {}, h),
          ),
        ),
      ),
      el('tbody', {}, ...rows),
    ),
  );
}
