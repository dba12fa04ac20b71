/**
 * Predictions/s and µs per prediction through the predictor's path (decode the indicator
 * record, build the feature vector, run the ONNX session, build the Prediction), next to
 * a bare `session.run` of the same model on the same vectors, in the same run.
 *
 * The model is gradient-boosted trees trained here on real BTC/USD candles (the largest
 * graph the trainer produces), exported with training/onnx like `tickcast train` does.
 */
import * as ort from 'onnxruntime-node';
import { TOPICS } from '../schema/topics.ts';
import type { IndicatorSet } from '../schema/events.ts';
import { encodeValue } from '../streams/bus/codec.ts';
import type { InboundRecord } from '../streams/bus/bus.ts';
import { predictorProcessor } from '../streams/predictor/processor.ts';
import { buildDataset } from '../training/dataset.ts';
import { historyFromFile } from '../training/history.ts';
import { featureVector } from '../training/features.ts';
import { fitTrees } from '../training/models/trees.ts';
import { toOnnx } from '../training/onnx/export.ts';
import { loadOnnxModel } from '../training/onnx/session.ts';
import { BTC_CANDLES, requireData } from '../test/support/data.ts';

const PAIR = 'BTC/USD';
const N = Number(process.env['BENCH_PREDICTIONS'] ?? 20_000);

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

  // Bare session.run, batch of 1, same model, same vectors.
  const session = await ort.InferenceSession.create(bytes);
  const inputName = session.inputNames[0] ?? 'features';
  const bare = async (): Promise<number> => {
    const started = performance.now();
    for (const v of vectors) await session.run({ [inputName]: new ort.Tensor('float64', v, [1, features]) });
    return performance.now() - started;
  };

  // The predictor's own path, on the same model.
  const onnx = await loadOnnxModel(bytes);
  const champion = {
    modelName: 'tickcast-btc-usd-5m',
    version: '1',
    onnx,
    inputs: 'indicators' as const,
    intervalHalfWidth: 0.002,
  };
  const processor = predictorProcessor({ get: () => champion }, [5]);
  const predictorPath = async (): Promise<number> => {
    const state = processor.initialState(PAIR);
    const started = performance.now();
    for (const record of records) await processor.process(state, record);
    return performance.now() - started;
  };

  await bare();
  await predictorPath(); // warm-up
  const bareMs = Math.min(await bare(), await bare());
  const pathMs = Math.min(await predictorPath(), await predictorPath());
  await onnx.close();
  await session.release();

  const trees100 = model.trees.length;
  const line = (label: string, value: string): string => `  ${label.padEnd(48)} ${value}`;
  console.log(
    `inference: ${sets.length.toLocaleString('en-US')} real BTC/USD indicator sets, gradient-boosted trees (${trees100} trees, depth 4, ${features} features), batch of 1, best of 2`,
  );
  console.log(
    line('bare session.run (predictions/s)', Math.round((sets.length / bareMs) * 1000).toLocaleString('en-US')),
  );
  console.log(
    line('predictor path (predictions/s)', Math.round((sets.length / pathMs) * 1000).toLocaleString('en-US')),
  );
  console.log(
    line(
      'µs per prediction bare / predictor path',
      `${((bareMs * 1000) / sets.length).toFixed(1)} / ${((pathMs * 1000) / sets.length).toFixed(1)}`,
    ),
  );
  console.log(line('ratio predictor path / bare (throughput)', (bareMs / pathMs).toFixed(3)));
}
