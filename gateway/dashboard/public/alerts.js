// Model drift alerts as the monitor raises them (every model, newest first).
import { dateTime, el, fill, number } from './dom.js';

const MAX_ALERTS = 20;

export class AlertsPanel {
  constructor() {
    this.alerts = [];
    this.render();
  }

  add(alert) {
    this.alerts.unshift(alert);
    this.alerts.length = Math.min(this.alerts.length, MAX_ALERTS);
    this.render();
  }

  render() {
    if (this.alerts.length === 0) {
      fill(
        'model-alerts',
        el('p', { class: 'muted', 'data-testid': 'alerts-empty' }, 'no alerts since this page opened'),
      );
      return;
    }
    fill(
      'model-alerts',
      el(
        'ul',
        { class: 'alerts' },
        ...this.alerts.map((a) =>
          el(
            'li',
            { 'data-testid': 'model-alert' },
            el('strong', {}, `${a.modelVersion.modelName} v${a.modelVersion.version}`),
            ` rolling MAE ${number(a.rollingMae)} = ${number(a.factor, 2)}× training ${number(a.trainingMae)}: ${a.recommendation} `,
            el('small', { class: 'muted' }, dateTime(a.raisedAt)),
          ),
        ),
      ),
    );
  }
}
