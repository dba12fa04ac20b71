/**
 * `tickcast start` with an empty registry: trains a first model per pair and horizon, so
 * predictions start flowing as soon as the predictor finds it. Each first model is a
 * bootstrap model (training/bootstrap.ts: the history's last day, a smaller search, seconds to
 * train), registered as challenger; once every pair and horizon has one, the full model is
 * trained on the whole history, through the normal gate, and replaces it. The
 * history is the candle replay file; on Kraken's live feed, the 720 most recent one-minute
 * candles Kraken serves over REST (the last 2 hours held out, the 2 before for selection);
 * on the simulated market, simulated history (simulated-history.ts; 4 days, the last one
 * held out and the one before it for selection, so the first model is ready within seconds). Training is CPU-bound, so it runs
 * as a child `tickcast train` process (one at a time) that never blocks the service's event
 * loop and is killed if the service stops first. With a registry that already has models,
 * or without history, it does nothing and says what to run.
 */
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { openRegistry } from '../registry/index.ts';
import { CHALLENGER_ALIAS, CHAMPION_ALIAS, modelName } from '../registry/model-names.ts';
import { BOOTSTRAP_TAG } from '../training/bootstrap.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toKrakenCsv } from '../lib/candle-csv.ts';
import { KrakenRestClient } from '../streams/sources/kraken-rest.ts';
import { writeSimulatedHistory } from './simulated-history.ts';
import { TrainChild, type TrainResult } from './train-child.ts';

/** What runs `tickcast train` (a TrainChild; a fake in tests). */
export interface Trainer {
  run(args: readonly string[]): Promise<TrainResult | null>;
  readonly isStopped: boolean;
  stop(): Promise<void>;
}

export interface InitialTraining {
  /** Settles when every missing horizon was trained (or training gave up). */
  readonly done: Promise<void>;
  /** Resolves when the first model is registered, or when training ends without one (never rejects). */
  readonly firstModel: Promise<void>;
  stop(): Promise<void>;
}

/** Where the first models learn from. */
export type InitialHistory =
  /** A candle replay of `pair` (a recording or anything but a candle CSV gives no history). */
  | { readonly kind: 'replay'; readonly pair: string; readonly file: string | undefined }
  /** The simulated market: simulated history for each of its pairs. */
  | { readonly kind: 'simulated'; readonly pairs: readonly string[] }
  /** Kraken's live feed: the most recent candles Kraken serves over REST (720 minutes). */
  | { readonly kind: 'kraken'; readonly pairs: readonly string[] };

/** Simulated history: 4 days, the last held out and the one before it used for selection; the run says it is simulated. */
const SIMULATED_DAYS = 4;
const SIMULATED_SPLIT = ['--test-days', '1', '--validation-days', '1'];
/** Kraken's last 720 one-minute candles: the last 2 hours held out, the 2 before for selection. */
const KRAKEN_MINUTES = 720;
const KRAKEN_SPLIT = ['--test-days', String(2 / 24), '--validation-days', String(2 / 24)];

export async function trainInitialModels(
  config: Config,
  history: InitialHistory,
  logger: Logger,
  options: {
    /** Runs `tickcast train`; default a child process. */
    readonly trainer?: Trainer;
    /**
     * The full models wait for this (the service running): they take minutes of CPU the
     * service's own start-up would otherwise share, while a bootstrap model serves meanwhile.
     */
    readonly fullTrainingAfter?: Promise<unknown>;
  } = {},
): Promise<InitialTraining> {
  const trainer = options.trainer ?? new TrainChild();
  const registry = openRegistry({ mlflowTrackingUri: config.MLFLOW_TRACKING_URI, dataDir: config.TICKCAST_DATA_DIR });
  const pairs = history.kind === 'replay' ? [history.pair] : history.pairs;
  const abort = new AbortController();
  /** Pairs and horizons without a full model; `served` when a bootstrap model serves meanwhile (a restart). */
  const missing: { pair: string; horizon: number; served: boolean }[] = [];
  for (const pair of pairs) {
    for (const horizon of config.PREDICTION_HORIZONS.map(Number)) {
      const name = modelName(pair, horizon);
      const served =
        (await registry.getVersionByAlias(name, CHAMPION_ALIAS)) ??
        (await registry.getVersionByAlias(name, CHALLENGER_ALIAS));
      if (!served || served.tags[BOOTSTRAP_TAG] === 'true') missing.push({ pair, horizon, served: served !== null });
    }
  }
  const nothing = { done: Promise.resolve(), firstModel: Promise.resolve(), stop: async () => {} };
  if (missing.length === 0) return nothing;
  if (history.kind === 'replay' && (!history.file || !/\.csv(\.gz)?$/.test(history.file))) {
    const { pair } = history;
    logger.warn(
      { pair, horizons: missing.map((m) => m.horizon) },
      `no model for ${pair} yet, so no predictions: run \`tickcast train --pair ${pair} --horizon H\` once history is stored`,
    );
    return nothing;
  }
  /** The history file, the full model's split, and how the run is marked (both models). */
  type Data = { file: string; split: string[]; marks: string[] };
  const dataFile = async (pair: string): Promise<Data | null> => {
    if (history.kind === 'replay') return { file: history.file ?? '', split: [], marks: [] };
    if (history.kind === 'kraken') {
      const file = await recentKrakenCandles(config, pair, abort.signal, logger);
      return file === null ? null : { file, split: KRAKEN_SPLIT, marks: [] };
    }
    const file = await writeSimulatedHistory(config.TICKCAST_DATA_DIR, pair, SIMULATED_DAYS, Date.now());
    logger.warn({ pair, file }, 'training the first model on SIMULATED history (not real market data)');
    return { file, split: SIMULATED_SPLIT, marks: ['--simulated'] };
  };

  let firstModelTrained = (): void => {};
  const firstModel = new Promise<void>((resolve) => (firstModelTrained = resolve));
  const done = (async () => {
    const files = new Map<string, Data | null>();
    const train = async (pair: string, horizon: number, bootstrap: boolean): Promise<boolean | null> => {
      if (trainer.isStopped) return null;
      const data = files.has(pair) ? files.get(pair) : await dataFile(pair);
      files.set(pair, data ?? null);
      if (!data) return false;
      // The bootstrap model sets its own split (a sixth of its day each for test and validation).
      const result = await trainer.run([
        ...['--pair', pair, '--horizon', String(horizon), '--data', data.file, ...data.marks],
        ...(bootstrap ? ['--bootstrap'] : data.split),
      ]);
      if (result === null) return null;
      if (result.code === 0) {
        logger.info(
          { pair, horizon, summary: result.summary },
          bootstrap ? 'initial model trained' : 'full model trained',
        );
        return true;
      }
      if (!trainer.isStopped)
        logger.error({ pair, horizon, code: result.code }, 'initial training failed; run `tickcast train` by hand');
      return false;
    };
    try {
      // Every pair and horizon gets a model to serve first, then each its full one.
      for (const { pair, horizon, served } of missing) {
        if (served) continue;
        const trained = await train(pair, horizon, true);
        if (trained === null) return;
        if (trained) firstModelTrained();
      }
      const stopped = new Promise((resolve) => abort.signal.addEventListener('abort', resolve, { once: true }));
      await Promise.race([options.fullTrainingAfter, stopped]);
      for (const { pair, horizon } of missing) if ((await train(pair, horizon, false)) === null) return;
    } finally {
      firstModelTrained();
    }
  })();
  return {
    done,
    firstModel,
    stop: async () => {
      abort.abort();
      await trainer.stop();
      await done;
    },
  };
}

/**
 * The pair's most recent one-minute candles from Kraken's REST API (it serves 720), saved as a
 * Kraken OHLC export for `tickcast train --data`; null, said in the log, when Kraken refuses.
 */
async function recentKrakenCandles(
  config: Config,
  pair: string,
  signal: AbortSignal,
  logger: Logger,
): Promise<string | null> {
  const client = new KrakenRestClient({ baseUrl: config.KRAKEN_REST_URL, logger, progress: 'off' });
  try {
    const { rows } = await client.backfillOhlc(
      { pair, intervalMinutes: 1, startMs: Date.now() - KRAKEN_MINUTES * 60_000 },
      signal,
    );
    const dir = join(config.TICKCAST_DATA_DIR, 'kraken-history');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `KRAKEN-${pair.replace(/[^A-Za-z0-9]/g, '')}-1m.csv`);
    await writeFile(file, toKrakenCsv(rows));
    logger.info(
      { pair, candles: rows.length, file },
      'training the first model on the candles Kraken serves over REST',
    );
    return file;
  } catch (error) {
    logger.warn(
      { pair, err: error },
      `no recent candles from Kraken REST, so no first model for ${pair} yet: run \`tickcast train\` once history is stored`,
    );
    return null;
  }
}
