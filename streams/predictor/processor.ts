/**
 * The predictor: for every closed one-minute indicator set, one prediction per horizon
 * from that horizon's champion, published exactly once (the stateful runtime commits
 * predictions with the input offsets). Which version made it is a field, not part of the
 * id, so a champion swap mid-stream neither skips nor repeats a (pair, horizon, time).
 */
import { z } from 'zod';
import { indicatorSetSchema, predictionId, type IndicatorSet, type Prediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import { counter } from '../../lib/metrics.ts';
import { featureVector } from '../../training/features.ts';
import { adaptiveStateSchema, halfWidth, initialState, update } from '../../training/adaptive-conformal.ts';
import type { InboundRecord, OutboundRecord, StatefulProcessor } from '../bus/bus.ts';
import { decodeValue } from '../bus/codec.ts';
import type { Champion } from './champions.ts';

/** Where the predictor finds the model serving a (pair, horizon); `Champions` follows the registry. */
export interface ChampionSource {
  get(pair: string, horizonMinutes: number): Champion | undefined;
}

/** The pair's news sentiment inputs at the close of the candle opening at `openTime` (training/sentiment.ts). */
export type SentimentInputs = (pair: string, openTime: number) => Promise<number[]>;

/**
 * The partner pair's return inputs for the candle opening at `openTime` (training/cross-asset.ts),
 * from the feature store; null values when the partner's candles are not there (its feed is stale).
 */
export type PartnerInputs = (
  pair: string,
  openTime: number,
  own: Readonly<Record<string, number | null | undefined>>,
) => Promise<(number | null)[]>;

const predictions = counter('tickcast_predictor_predictions_total', 'Predictions published', [
  'pair',
  'horizon',
  'model_version',
]);
const skipped = counter('tickcast_predictor_skipped_total', 'Indicator sets without a prediction, by reason', [
  'pair',
  'reason',
]);

const MINUTE_MS = 60_000;

/** An interval the predictor issued, waiting for the close it predicted. */
const issuedSchema = z.object({
  /** modelName|version|horizon: whose tracker the outcome updates. */
  key: z.string(),
  /** Open time of the candle whose close is the target. */
  targetOpenTime: z.number(),
  basePrice: z.number(),
  predictedLogReturn: z.number(),
  halfWidth: z.number(),
});
type Issued = z.infer<typeof issuedSchema>;

const predictorStateSchema = z.object({
  lastOpenTime: z.number().nullable(),
  /**
   * Adaptive conformal intervals (training/adaptive-conformal.ts), kept in the predictor's own
   * state so a minute replayed after a crash issues the same bounds: the issued intervals
   * waiting for their close (at most h per horizon), and one tracker per serving version and
   * horizon. Absent in snapshots from before they were kept.
   */
  issued: z.array(issuedSchema).optional(),
  intervals: z.record(z.string(), adaptiveStateSchema).optional(),
});
type PredictorState = z.infer<typeof predictorStateSchema>;

/**
 * Applies the outcomes this close makes known (the candle opening at `openTime` closed at
 * `close`) to their versions' trackers, and forgets issued intervals whose target candle is
 * past (a gap in the data leaves them without an outcome).
 */
function applyOutcomes(state: PredictorState, openTime: number, close: number): void {
  const waiting: Issued[] = [];
  for (const issued of state.issued ?? []) {
    if (issued.targetOpenTime > openTime) {
      waiting.push(issued);
      continue;
    }
    if (issued.targetOpenTime < openTime) continue;
    const intervals = (state.intervals ??= {});
    const residual = Math.log(close / issued.basePrice) - issued.predictedLogReturn;
    intervals[issued.key] = update(intervals[issued.key] ?? initialState(issued.halfWidth), residual, issued.halfWidth);
  }
  state.issued = waiting;
}

/** The half-width to issue for `key`: its tracker's once it has one, else the registered one. */
function halfWidthFor(state: PredictorState, key: string, registered: number | null): number | null {
  const tracker = state.intervals?.[key];
  return tracker ? halfWidth(tracker) : registered;
}

/** Keeps one tracker per model and horizon: a new serving version starts from its own registered width. */
function forgetOtherVersions(
  state: PredictorState,
  serving: string,
  modelName: string,
  version: string,
  horizon: number,
): void {
  const intervals = state.intervals;
  if (!intervals) return;
  for (const key of Object.keys(intervals)) {
    // The serving version's own tracker (most keys, most of the time) stays without a split.
    if (key === serving) continue;
    const [name, v, h] = key.split('|');
    if (name === modelName && h === String(horizon) && v !== version) delete intervals[key];
  }
}

const fallbacks = counter(
  'tickcast_predictor_fallbacks_total',
  "Predictions made as persistence because the model's inputs were missing, by reason",
  ['pair', 'horizon', 'reason'],
);

/** A record of the batch about to be applied, decoded, with the outputs its horizons' models gave ahead. */
interface Ahead {
  readonly set: IndicatorSet;
  /** Per horizon: the champion that ran and its output (used only if it still serves when the record is applied). */
  readonly outputs: Map<number, { readonly champion: Champion; readonly logReturn: number }>;
}

export function predictorProcessor(
  champions: ChampionSource,
  horizons: readonly number[],
  sentiment?: SentimentInputs,
  partner?: PartnerInputs,
): StatefulProcessor<PredictorState> {
  // The batch prepare saw, until process takes each record: one batch at most.
  let ahead = new Map<InboundRecord, Ahead>();
  return {
    name: 'predictor',
    inputs: [TOPICS.indicators.name],
    stateSchema: predictorStateSchema,
    initialState: () => ({ lastOpenTime: null }),
    /**
     * Several minutes due at once (a catch-up, a replay, a restart behind a backlog): each
     * model runs once over all of them, a batch dimension in one session.run instead of a run
     * per minute (the per-run overhead is most of a small model's cost). A model gives each
     * row the same output alone or in a batch (tested), so process, which applies the records
     * in order and keeps every decision, publishes what it would have without this.
     * Sentiment and partner inputs are read per minute when it is applied; those models, a
     * record that does not decode and a model that fails here are left to process.
     */
    async prepare(records) {
      ahead = new Map();
      if (records.length < 2) return;
      const runs = new Map<Champion, { rows: number[][]; for: [Ahead, number][] }>();
      for (const record of records) {
        let set: IndicatorSet;
        try {
          set = decodeValue(indicatorSetSchema, record);
        } catch {
          continue;
        }
        const entry: Ahead = { set, outputs: new Map() };
        ahead.set(record, entry);
        const x = set.interval === '1m' ? featureVector(set) : null;
        if (x === null) continue;
        for (const horizon of horizons) {
          const champion = champions.get(set.pair, horizon);
          if (champion?.inputs !== 'indicators') continue;
          let run = runs.get(champion);
          if (!run) runs.set(champion, (run = { rows: [], for: [] }));
          run.rows.push(x);
          run.for.push([entry, horizon]);
        }
      }
      await Promise.all(
        [...runs].map(async ([champion, run]) => {
          if (run.rows.length < 2) return;
          const outputs = await champion.onnx.predict(run.rows).catch(() => null);
          run.for.forEach(([entry, horizon], i) => {
            const logReturn = outputs?.[i];
            if (logReturn !== undefined) entry.outputs.set(horizon, { champion, logReturn });
          });
        }),
      );
    },
    async process(state, record) {
      const early = ahead.get(record);
      ahead.delete(record);
      const set = early?.set ?? decodeValue(indicatorSetSchema, record);
      if (set.interval !== '1m') return [];
      if (state.lastOpenTime !== null && set.openTime <= state.lastOpenTime) {
        skipped.inc({ pair: set.pair, reason: 'replayed' });
        return [];
      }
      state.lastOpenTime = set.openTime;
      applyOutcomes(state, set.openTime, set.close);
      const base = featureVector(set);
      if (base === null) {
        skipped.inc({ pair: set.pair, reason: 'warming-up' });
        return [];
      }
      // Built once per set, only when a serving model reads sentiment or the partner's returns.
      let withSentiment: Promise<number[] | null> | undefined;
      let withPartner: Promise<number[] | null> | undefined;
      const inputsFor = (champion: Champion): Promise<number[] | null> => {
        if (champion.inputs === 'indicators') return Promise.resolve(base);
        if (champion.inputs === 'indicators+partner') {
          if (!partner) return Promise.resolve(null);
          withPartner ??= partner(set.pair, set.openTime, set.values).then((extra) => featureVector(set, extra));
          return withPartner;
        }
        if (!sentiment) return Promise.resolve(null);
        withSentiment ??= sentiment(set.pair, set.openTime).then((extra) => featureVector(set, extra));
        return withSentiment;
      };
      const madeAt = set.openTime + MINUTE_MS;
      // Every horizon's model runs at once, then the results are applied in horizon order.
      // Each horizon is a model of its own (one ONNX file per pair and horizon), so one
      // session.run with a batch dimension cannot serve them; but onnxruntime-node runs each
      // session.run from a setImmediate, so awaited one after another three horizons cost
      // three event-loop turns, launched together they share one.
      const runs = horizons.map(async (horizon) => {
        const champion = champions.get(set.pair, horizon);
        if (!champion) return { horizon, skip: `no-champion-${horizon}m` } as const;
        const x = await inputsFor(champion);
        // A silent partner feed must not make the pair's predictions worse than persistence:
        // without the partner's inputs the prediction is persistence's, and says so.
        const fallback = x === null && champion.inputs === 'indicators+partner';
        if (x === null && !fallback) return { horizon, skip: 'no-sentiment-source' } as const;
        const given = early?.outputs.get(horizon);
        const [logReturn = Number.NaN] =
          x === null ? [0] : given?.champion === champion ? [given.logReturn] : await champion.onnx.predict([x]);
        return { horizon, champion, fallback, logReturn } as const;
      });
      const out: OutboundRecord[] = [];
      for (const run of await Promise.all(runs)) {
        if ('skip' in run) {
          skipped.inc({ pair: set.pair, reason: run.skip });
          continue;
        }
        const { horizon, champion, fallback, logReturn } = run;
        if (fallback) fallbacks.inc({ pair: set.pair, horizon: String(horizon), reason: 'partner-stale' });
        if (!Number.isFinite(logReturn)) {
          skipped.inc({ pair: set.pair, reason: 'non-finite-output' });
          continue;
        }
        const key = `${champion.modelName}|${champion.version}|${horizon}`;
        forgetOtherVersions(state, key, champion.modelName, champion.version, horizon);
        const q = halfWidthFor(state, key, champion.intervalHalfWidth);
        if (q !== null && Number.isFinite(q) && q > 0) {
          (state.issued ??= []).push({
            key,
            targetOpenTime: set.openTime + horizon * MINUTE_MS,
            basePrice: set.close,
            predictedLogReturn: logReturn,
            halfWidth: q,
          });
        }
        const prediction: Prediction = {
          v: 1,
          id: predictionId(set.pair, horizon, madeAt),
          pair: set.pair,
          horizonMinutes: horizon,
          madeAt,
          targetTime: madeAt + horizon * MINUTE_MS,
          basePrice: set.close,
          predictedLogReturn: logReturn,
          predictedPrice: set.close * Math.exp(logReturn),
          lowerBound: q === null ? null : set.close * Math.exp(logReturn - q),
          upperBound: q === null ? null : set.close * Math.exp(logReturn + q),
          modelName: champion.modelName,
          modelVersion: champion.version,
          ...(fallback ? { fallback: 'persistence' as const } : {}),
        };
        predictions.inc({ pair: set.pair, horizon: String(horizon), model_version: champion.version });
        out.push({ topic: TOPICS.predictions.name, key: set.pair, value: prediction });
      }
      return out;
    },
  };
}
