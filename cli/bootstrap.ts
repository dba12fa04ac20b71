/**
 * `tickcast start` with a candle replay and an empty registry: trains a first model per
 * horizon from the replay file in the background, so predictions start flowing as soon as
 * the predictor's next registry poll finds it. With a registry that already has models,
 * or without history, it does nothing and says what to run.
 */
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { openRegistry } from '../registry/index.ts';
import { CHALLENGER_ALIAS, CHAMPION_ALIAS, modelName } from '../streams/predictor/model-names.ts';
import { historyFromFile } from '../training/history.ts';
import { trainAndRegister } from '../training/train.ts';

export async function trainInitialModels(
  config: Config,
  pair: string,
  candleFile: string | undefined,
  logger: Logger,
): Promise<void> {
  const registry = openRegistry({ mlflowTrackingUri: config.MLFLOW_TRACKING_URI, dataDir: config.TICKCAST_DATA_DIR });
  const horizons = config.PREDICTION_HORIZONS.map(Number);
  const missing: number[] = [];
  for (const horizon of horizons) {
    const name = modelName(pair, horizon);
    const served =
      (await registry.getVersionByAlias(name, CHAMPION_ALIAS)) ??
      (await registry.getVersionByAlias(name, CHALLENGER_ALIAS));
    if (!served) missing.push(horizon);
  }
  if (missing.length === 0) return;
  if (!candleFile || !/\.csv(\.gz)?$/.test(candleFile)) {
    logger.warn(
      { pair, horizons: missing },
      `no model for ${pair} yet, so no predictions: run \`tickcast train --pair ${pair} --horizon H\` once history is stored`,
    );
    return;
  }
  const series = await historyFromFile(candleFile);
  for (const horizon of missing) {
    const outcome = await trainAndRegister({
      registry,
      pair,
      horizonMinutes: horizon,
      series,
      log: (line) => logger.debug({ pair, horizon }, line),
    });
    logger.info(
      { model: outcome.modelName, version: outcome.version, alias: outcome.alias, reason: outcome.reason },
      'initial model trained',
    );
  }
}
