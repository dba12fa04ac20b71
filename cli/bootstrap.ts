/**
 * `tickcast start` with an empty registry: trains a first model per pair and horizon, so
 * predictions start flowing as soon as the predictor's next registry poll finds it. The
 * history is the candle replay file, or, on the simulated market, simulated history
 * (simulated-history.ts; 4 days, the last one held out and the one before it for
 * selection, so the first model is ready within seconds). Training is CPU-bound, so it runs
 * as a child `tickcast train` process (one at a time) that never blocks the service's event
 * loop and is killed if the service stops first. With a registry that already has models,
 * or without history, it does nothing and says what to run.
 */
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { openRegistry } from '../registry/index.ts';
import { CHALLENGER_ALIAS, CHAMPION_ALIAS, modelName } from '../registry/model-names.ts';
import { writeSimulatedHistory } from './simulated-history.ts';
import { TrainChild } from './train-child.ts';

export interface InitialTraining {
  /** Settles when every missing horizon was trained (or training gave up). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** Where the first models learn from. */
export type InitialHistory =
  /** A candle replay of `pair` (a recording or anything but a candle CSV gives no history). */
  | { readonly kind: 'replay'; readonly pair: string; readonly file: string | undefined }
  /** The simulated market: simulated history for each of its pairs. */
  | { readonly kind: 'simulated'; readonly pairs: readonly string[] };

/** Simulated history: 4 days, the last held out and the one before it used for selection. */
const SIMULATED_DAYS = 4;
const SIMULATED_SPLIT = ['--test-days', '1', '--validation-days', '1'];

export async function trainInitialModels(
  config: Config,
  history: InitialHistory,
  logger: Logger,
): Promise<InitialTraining> {
  const registry = openRegistry({ mlflowTrackingUri: config.MLFLOW_TRACKING_URI, dataDir: config.TICKCAST_DATA_DIR });
  const pairs = history.kind === 'replay' ? [history.pair] : history.pairs;
  const missing: { pair: string; horizon: number }[] = [];
  for (const pair of pairs) {
    for (const horizon of config.PREDICTION_HORIZONS.map(Number)) {
      const name = modelName(pair, horizon);
      const served =
        (await registry.getVersionByAlias(name, CHAMPION_ALIAS)) ??
        (await registry.getVersionByAlias(name, CHALLENGER_ALIAS));
      if (!served) missing.push({ pair, horizon });
    }
  }
  if (missing.length === 0) return { done: Promise.resolve(), stop: async () => {} };
  if (history.kind === 'replay' && (!history.file || !/\.csv(\.gz)?$/.test(history.file))) {
    const { pair } = history;
    logger.warn(
      { pair, horizons: missing.map((m) => m.horizon) },
      `no model for ${pair} yet, so no predictions: run \`tickcast train --pair ${pair} --horizon H\` once history is stored`,
    );
    return { done: Promise.resolve(), stop: async () => {} };
  }
  const dataFile = async (pair: string): Promise<{ file: string; split: string[] }> => {
    if (history.kind === 'replay') return { file: history.file ?? '', split: [] };
    const file = await writeSimulatedHistory(config.TICKCAST_DATA_DIR, pair, SIMULATED_DAYS, Date.now());
    logger.warn({ pair, file }, 'training the first model on SIMULATED history (not real market data)');
    return { file, split: SIMULATED_SPLIT };
  };

  const trainer = new TrainChild();
  const done = (async () => {
    const files = new Map<string, { file: string; split: string[] }>();
    for (const { pair, horizon } of missing) {
      if (trainer.isStopped) return;
      const data = files.get(pair) ?? (await dataFile(pair));
      files.set(pair, data);
      const result = await trainer.run([
        '--pair',
        pair,
        '--horizon',
        String(horizon),
        '--data',
        data.file,
        ...data.split,
      ]);
      if (result === null) return;
      if (result.code === 0) logger.info({ pair, horizon, summary: result.summary }, 'initial model trained');
      else if (!trainer.isStopped)
        logger.error({ pair, horizon, code: result.code }, 'initial training failed; run `tickcast train` by hand');
    }
  })();
  return {
    done,
    stop: async () => {
      await trainer.stop();
      await done;
    },
  };
}
