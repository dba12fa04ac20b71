/**
 * The error monitor: joins each prediction with the close at its target time, keeps
 * rolling error per model version, market and horizon, and raises an alert with a
 * retraining recommendation when the rolling MAE exceeds the version's training MAE by
 * a configured factor. Predictions and candles are both keyed by pair, so one pair's
 * state sees both streams.
 */
import { candleSchema, predictionSchema, type ModelAlert } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { counter } from '../../lib/metrics.ts';
import type { OutboundRecord, StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import {
  addCandle,
  addPrediction,
  initialMonitorState,
  monitorStateSchema,
  type MonitorConfig,
  type MonitorState,
  type Resolved,
} from './rolling.ts';

const outcomes = counter('tickcast_monitor_outcomes_total', 'Predictions joined with their actual close', [
  'pair',
  'horizon',
]);
const alerts = counter('tickcast_monitor_alerts_total', 'Model drift alerts raised', ['model']);

export interface ErrorMonitorOptions extends MonitorConfig {
  /** Alert when rolling MAE > factor x training MAE. */
  readonly alertFactor: number;
  /** Outcomes needed before a window may alert. */
  readonly minOutcomes: number;
  /** The MAE a version was trained to (its run's `mae` metric), or null when unknown. */
  trainingMae(modelName: string, version: string): Promise<number | null>;
  /** Per pair, the state to start from when the bus has none (store.ts rebuilds it from stored predictions). */
  readonly restored?: ReadonlyMap<string, MonitorState>;
}

export function errorMonitorProcessor(options: ErrorMonitorOptions): StatefulProcessor<MonitorState> {
  return {
    name: 'monitor',
    inputs: [TOPICS.predictions.name, TOPICS.candles.name],
    stateSchema: monitorStateSchema,
    initialState: (pair) => {
      const restored = options.restored?.get(pair);
      return restored ? structuredClone(restored) : initialMonitorState();
    },
    async process(state, record) {
      let resolved: Resolved;
      if (record.topic === TOPICS.predictions.name) {
        const prediction = decodeValue(predictionSchema, record);
        // As of its target's close, like an outcome the candle resolves: which of the two
        // arrives last depends on how the inputs' fetches interleave, and must not show.
        resolved = addPrediction(state, prediction, options, prediction.targetTime);
      } else {
        const candle = decodeValue(candleSchema, record);
        resolved = addCandle(state, candle, options, candle.closeTime);
      }
      const out: OutboundRecord[] = resolved.outcomes.map((o) => {
        outcomes.inc({ pair: o.pair, horizon: String(o.horizonMinutes) });
        return { topic: TOPICS.predictionOutcomes.name, key: o.pair, value: o };
      });
      for (const p of resolved.performance) {
        const key = `${p.modelName}|${p.modelVersion}|${p.pair}|${p.horizonMinutes}`;
        out.push({ topic: TOPICS.modelPerformance.name, key, value: p });
        if (p.count < options.minOutcomes) continue;
        const trainingMae = await options.trainingMae(p.modelName, p.modelVersion);
        const drifting = trainingMae !== null && p.mae > options.alertFactor * trainingMae;
        const alreadyRaised = state.alerting[key] === true;
        state.alerting[key] = drifting;
        if (!drifting || alreadyRaised || trainingMae === null) continue;
        const alert: ModelAlert = {
          v: 1,
          modelName: p.modelName,
          modelVersion: p.modelVersion,
          pair: p.pair,
          horizonMinutes: p.horizonMinutes,
          rollingMae: p.mae,
          trainingMae,
          factor: p.mae / trainingMae,
          recommendation:
            `rolling MAE over the last ${p.count} predictions is ${(p.mae / trainingMae).toFixed(2)}x the training MAE: ` +
            `retrain with \`tickcast train --pair ${p.pair} --horizon ${p.horizonMinutes}\` on recent data`,
          at: p.updatedAt,
        };
        alerts.inc({ model: p.modelName });
        out.push({ topic: TOPICS.modelAlerts.name, key: p.modelName, value: alert });
      }
      return out;
    },
  };
}
