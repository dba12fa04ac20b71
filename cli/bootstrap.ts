/**
 * `tickcast start` with a candle replay and an empty registry: trains a first model per
 * horizon from the replay file, so predictions start flowing as soon as the predictor's
 * next registry poll finds it. Training is CPU-bound, so it runs as a child
 * `tickcast train` process (one horizon at a time) that never blocks the service's event
 * loop and is killed if the service stops first. With a registry that already has
 * models, or without history, it does nothing and says what to run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { openRegistry } from '../registry/index.ts';
import { CHALLENGER_ALIAS, CHAMPION_ALIAS, modelName } from '../registry/model-names.ts';

export interface InitialTraining {
  /** Settles when every missing horizon was trained (or training gave up). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function trainInitialModels(
  config: Config,
  pair: string,
  candleFile: string | undefined,
  logger: Logger,
): Promise<InitialTraining> {
  const registry = openRegistry({ mlflowTrackingUri: config.MLFLOW_TRACKING_URI, dataDir: config.TICKCAST_DATA_DIR });
  const missing: number[] = [];
  for (const horizon of config.PREDICTION_HORIZONS.map(Number)) {
    const name = modelName(pair, horizon);
    const served =
      (await registry.getVersionByAlias(name, CHAMPION_ALIAS)) ??
      (await registry.getVersionByAlias(name, CHALLENGER_ALIAS));
    if (!served) missing.push(horizon);
  }
  if (missing.length === 0) return { done: Promise.resolve(), stop: async () => {} };
  if (!candleFile || !/\.csv(\.gz)?$/.test(candleFile)) {
    logger.warn(
      { pair, horizons: missing },
      `no model for ${pair} yet, so no predictions: run \`tickcast train --pair ${pair} --horizon H\` once history is stored`,
    );
    return { done: Promise.resolve(), stop: async () => {} };
  }

  let child: ChildProcess | undefined;
  let stopped = false;
  const done = (async () => {
    for (const horizon of missing) {
      if (stopped) return;
      // The same entry point and loader this process runs with.
      child = spawn(
        process.execPath,
        [
          ...process.execArgv,
          process.argv[1] ?? 'cli/main.ts',
          'train',
          '--pair',
          pair,
          '--horizon',
          String(horizon),
          '--data',
          candleFile,
        ],
        {
          env: { ...process.env, METRICS_PORT: '0', LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let summary = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        summary += chunk.toString('utf8');
      });
      const code = await new Promise<number | null>((resolve) => child?.once('exit', (c) => resolve(c)));
      if (code === 0) logger.info({ pair, horizon, summary: summary.split('\n')[0] }, 'initial model trained');
      else if (!stopped) logger.error({ pair, horizon, code }, 'initial training failed; run `tickcast train` by hand');
    }
  })();
  return {
    done,
    stop: async () => {
      stopped = true;
      child?.kill('SIGTERM');
      await done;
    },
  };
}
