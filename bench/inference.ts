/**
 * Predictions/s and µs per prediction through the predictor's path (decode the indicator
 * record, build the feature vector, run the ONNX session, bounds, metrics, build the
 * Prediction), next to a bare `session.run` (batch of 1) of the same model on the same
 * vectors, in the same run: one minute at a time through process(), then as the buses apply
 * records (applyBatch), live and catch-up, where minutes due at once share a session.run.
 *
 * The model is gradient-boosted trees trained here on real BTC/USD candles (the largest
 * graph the trainer produces), exported with training/onnx like `tickcast train` does.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { TOPICS } from '../schema/topics.ts';
import type { IndicatorSet } from '../schema/events.ts';
import { encodeValue } from '../streams/bus/codec.ts';
import { applyBatch } from '../streams/bus/batch.ts';
import type { InboundRecord } from '../streams/bus/bus.ts';
import { predictorProcessor } from '../streams/predictor/processor.ts';
import { buildDataset } from '../training/dataset.ts';
import { historyFromFile } from '../training/history.ts';
import { featureVector } from '../training/features.ts';
import { fitTrees } from '../training/models/trees.ts';
import { toOnnx } from '../training/onnx/export.ts';
import { loadOnnxModel, type OnnxModel } from '../training/onnx/session.ts';
import { BTC_CANDLES, requireData } from '../test/support/data.ts';

const PAIR = 'BTC/USD';
const N = Number(process.env['BENCH_PREDICTIONS'] ?? 20_000);
const ROUNDS = 3;
/** The default PREDICTION_HORIZONS: one model each per pair. */
const HORIZONS = [1, 5, 15];
/** Records per batch the in-process bus hands a processor (streams/bus/memory.ts) when it is behind. */
const CATCH_UP_BATCH = 500;
/** BENCH_PROFILE_DIR: a V8 CPU profile of each timed loop (bare, predictor path) is written there, setup left out. */
const PROFILE_DIR = process.env['BENCH_PROFILE_DIR'];

/** Runs `timed`, under the V8 profiler when BENCH_PROFILE_DIR is set (then written as `name`.cpuprofile). */
async function profiled(name: string, timed: () => Promise<number>): Promise<number> {
  if (!PROFILE_DIR) return timed();
  const inspector = new Session();
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.start');
  const ms = await timed();
  const { profile } = await inspector.post('Profiler.stop');
  await writeFile(join(PROFILE_DIR, `inference-${name}.cpuprofile`), JSON.stringify(profile));
  inspector.disconnect();
  return ms;
}

export async function run(): Promise<void> {
  const series = await historyFromFile(requireData(BTC_CANDLES));
  const dataset = buildDataset(series, 5);
  const rows = dataset.rows.slice(0, 20_000);
  const model = fitTrees(
    { featureNames: dataset.featureNames, X: rows.map((r) => r.x), y: rows.map((r) => r.y) },
    { rounds: 100, maxDepth: 4 },
  );
  const bytes = toOnnx(model, { horizonMinutes: 5, pair: PAIR }, { inputType: 'float64' });

  // Indicator records as the predictor receives them from the bus, warm ones only.
  const sets: IndicatorSet[] = series
    .filter((p) => featureVector(p) !== null)
    .slice(0, N)
    .map((p) => ({
      v: 1,
      pair: PAIR,
      interval: '1m',
      openTime: p.openTime,
      close: p.close,
      values: Object.fromEntries(Object.entries(p.values).map(([name, value]) => [name, value ?? null])),
    }));
  const records: InboundRecord[] = sets.map((set, i) => ({
    topic: TOPICS.indicators.name,
    partition: 0,
    offset: String(i),
    key: PAIR,
    value: encodeValue(set),
  }));
  const vectors = sets.map((s) => Float64Array.from(featureVector(s) ?? []));
  const features = dataset.featureNames.length;

  // The same session options as the predictor's (training/onnx/session.ts), so the ratio is the
  // overhead around session.run and not a difference in onnxruntime threading.
  const sessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  // One model per horizon, as tickcast serves them (the same trees, each in a session of its own).
  const sessions = await Promise.all(HORIZONS.map(() => ort.InferenceSession.create(bytes, sessionOptions)));
  const inputName = sessions[0]?.inputNames[0] ?? 'features';
  /** Bare session.run, batch of 1, on the same vectors: one run per set and model, one after another. */
  const bare = (models: readonly ort.InferenceSession[]) => async (): Promise<number> => {
    const started = performance.now();
    for (const v of vectors) {
      for (const session of models) await session.run({ [inputName]: new ort.Tensor('float64', v, [1, features]) });
    }
    return performance.now() - started;
  };

  // The predictor's own path (decode the record, features, run, bounds, metrics), on the same models.
  const models = await Promise.all(HORIZONS.map(() => loadOnnxModel(bytes)));
  const champions = new Map(
    HORIZONS.map((horizon, i) => [
      horizon,
      {
        modelName: `tickcast-btc-usd-${horizon}m`,
        version: '1',
        onnx: models[i] as OnnxModel,
        inputs: 'indicators' as const,
        intervalHalfWidth: 0.002,
      },
    ]),
  );
  const source = { get: (_pair: string, horizon: number) => champions.get(horizon) };
  /**
   * `batch` undefined: process() per record on one state, the predictor's own path, as the
   * issue measured it. Otherwise as the buses apply records (applyBatch: the state cloned per
   * batch, prepare, then process per record), `batch` at a time: 1 is the live case (one
   * minute per pair and minute), CATCH_UP_BATCH a backlog as the in-process bus hands it over.
   */
  const predictorPath = (horizons: readonly number[], batch?: number) => {
    const processor = predictorProcessor(source, horizons);
    return async (): Promise<number> => {
      let state = processor.initialState(PAIR);
      const committed = { get: () => state };
      const started = performance.now();
      if (batch === undefined) {
        for (const record of records) await processor.process(state, record);
      } else {
        for (let i = 0; i < records.length; i += batch) {
          const applied = await applyBatch(processor, committed, records.slice(i, i + batch));
          state = applied.changed.get(PAIR) ?? state;
        }
      }
      return performance.now() - started;
    };
  };

  const all = `${HORIZONS.length} horizons (${HORIZONS.join(', ')}m)`;
  const scenarios = [
    { label: 'process(), one horizon (5m)', bare: bare(sessions.slice(1, 2)), path: predictorPath([5]), perSet: 1 },
    { label: `process(), ${all}`, bare: bare(sessions), path: predictorPath(HORIZONS), perSet: HORIZONS.length },
    {
      label: `applyBatch, live (a batch per minute), ${all}`,
      bare: bare(sessions),
      path: predictorPath(HORIZONS, 1),
      perSet: HORIZONS.length,
    },
    {
      label: `applyBatch, catch-up (batches of ${CATCH_UP_BATCH} minutes), ${all}`,
      bare: bare(sessions),
      path: predictorPath(HORIZONS, CATCH_UP_BATCH),
      perSet: HORIZONS.length,
    },
  ];
  // Rounds alternate bare and predictor runs so both see the same share of a busy machine; best
  // of each, in wall time and in this process's CPU time (less sensitive to the other tenants).
  const best = scenarios.map(() => ({ bare: Infinity, path: Infinity, bareCpu: Infinity, pathCpu: Infinity }));
  const timed = async (run: () => Promise<number>): Promise<{ ms: number; cpuMs: number }> => {
    const cpu = process.cpuUsage();
    const ms = await run();
    const used = process.cpuUsage(cpu);
    return { ms, cpuMs: (used.user + used.system) / 1000 };
  };
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (const [i, scenario] of scenarios.entries()) {
      const last = round === ROUNDS;
      const b = await timed(() => (last && i === 0 ? profiled('bare', scenario.bare) : scenario.bare()));
      const p = await timed(() => (last && i === 0 ? profiled('predictor', scenario.path) : scenario.path()));
      if (round === 0) continue; // warm-up
      const m = best[i]!;
      m.bare = Math.min(m.bare, b.ms);
      m.path = Math.min(m.path, p.ms);
      m.bareCpu = Math.min(m.bareCpu, b.cpuMs);
      m.pathCpu = Math.min(m.pathCpu, p.cpuMs);
    }
  }
  await Promise.all(models.map((m) => m.close()));
  await Promise.all(sessions.map((s) => s.release()));

  const line = (label: string, value: string): string => `  ${label.padEnd(52)} ${value}`;
  console.log(
    `inference: ${sets.length.toLocaleString('en-US')} real BTC/USD indicator sets, gradient-boosted trees (${model.trees.length} trees, depth 4, ${features} features), bare session.run with a batch of 1, best of ${ROUNDS} alternating rounds`,
  );
  for (const [i, scenario] of scenarios.entries()) {
    const { bare: bareMs, path: pathMs, bareCpu, pathCpu } = best[i]!;
    const n = sets.length * scenario.perSet;
    const rate = (ms: number): string => Math.round((n / ms) * 1000).toLocaleString('en-US');
    const perPrediction = (a: number, b: number): string =>
      `${((a * 1000) / n).toFixed(1)} / ${((b * 1000) / n).toFixed(1)}`;
    console.log(`  ${scenario.label}`);
    console.log(line('  bare session.run (predictions/s)', rate(bareMs)));
    console.log(line('  predictor path (predictions/s)', rate(pathMs)));
    console.log(line('  µs per prediction bare / predictor path', perPrediction(bareMs, pathMs)));
    console.log(line('  CPU µs per prediction bare / predictor path', perPrediction(bareCpu, pathCpu)));
    console.log(line('  ratio CPU bare / predictor path', (bareCpu / pathCpu).toFixed(3)));
    console.log(line('  ratio predictor path / bare (throughput)', (bareMs / pathMs).toFixed(3)));
  }
}
