/**
 * `tickcast evaluate`'s driver: loads each pair's candles, fixes the common end (the final
 * days every file has data for), and evaluates every (pair, horizon) as a task on `jobs`
 * threads (evaluate-pool.ts), reporting progress as tasks finish.
 */
import { availableParallelism } from 'node:os';
import { loadCandleCsv } from '../lib/candle-csv.ts';
import { partnerOf } from './cross-asset.ts';
import { gapStarts, indicatorSeries, MINUTE_MS } from './dataset.ts';
import {
  defaultPairFiles,
  type EvaluateOptions,
  type EvaluateResult,
  type HorizonResult,
  type PairSummary,
} from './evaluate.ts';
import { runTasks } from './evaluate-pool.ts';
import type { EvaluationTask, SeriesCache, TaskSettings } from './evaluate-task.ts';
import { indicatorInputs } from './history.ts';

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

export async function evaluate(options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const started = performance.now();
  const log = options.log ?? ((line: string): void => void process.stderr.write(`${line}\n`));
  const horizons = options.horizons ?? [1, 5, 15];
  const settings = {
    horizons,
    testDays: options.testDays ?? 7,
    validationDays: options.validationDays ?? 7,
    alpha: options.alpha ?? 0.1,
    folds: options.folds ?? 4,
  };
  const pairFiles = options.pairs ?? defaultPairFiles(options.dataDir);
  const pairs: PairSummary[] = [];
  // The series computed here for the summaries serve the tasks that run in this thread.
  const cache: SeriesCache = new Map();
  const lastOpenTimes: number[] = [];
  for (const { pair, file } of pairFiles) {
    const loadStart = performance.now();
    const minutes = await loadCandleCsv(file);
    const candles = indicatorInputs(minutes);
    cache.set(file, Promise.resolve(indicatorSeries(candles)));
    const last = candles[candles.length - 1];
    const first = candles[0];
    if (first === undefined || last === undefined) throw new Error(`${file} has no candles`);
    const summary: PairSummary = {
      pair,
      file,
      candles: candles.length,
      flatCandles: minutes.filter((m) => m.count === 0).length,
      gaps: gapStarts(candles.map((c) => c.openTime)).map(iso),
      first: iso(first.openTime),
      last: iso(last.openTime),
    };
    pairs.push(summary);
    lastOpenTimes.push(last.openTime);
    log(
      `[${pair}] ${summary.candles} candles ${summary.first} → ${summary.last}, ${summary.flatCandles} without trades, ` +
        `${summary.gaps.length} gaps; indicators in ${((performance.now() - loadStart) / 1000).toFixed(1)}s`,
    );
  }
  // Every pair is measured on the same final days: where all files have data (ETH/USD's runs
  // 32 hours past BTC/USD's), so one pair's candles can be the other's features.
  const end = Math.min(...lastOpenTimes) + MINUTE_MS;
  const fileOf = new Map(pairFiles.map((p) => [p.pair, p.file]));
  const taskSettings: TaskSettings = {
    ...(options.lambdas === undefined ? {} : { lambdas: options.lambdas }),
    ...(options.treeDepths === undefined ? {} : { treeDepths: options.treeDepths }),
    ...(options.treeMaxRounds === undefined ? {} : { treeMaxRounds: options.treeMaxRounds }),
    ...(options.treeLearningRate === undefined ? {} : { treeLearningRate: options.treeLearningRate }),
    ...(options.treeMinLeaf === undefined ? {} : { treeMinLeaf: options.treeMinLeaf }),
    ...(options.reference === undefined ? {} : { reference: options.reference }),
    testDays: settings.testDays,
    validationDays: settings.validationDays,
    alpha: settings.alpha,
    folds: settings.folds,
    end,
  };
  const tasks: EvaluationTask[] = pairFiles.flatMap(({ pair, file }) => {
    const partnerFile = options.crossAssetInputs === false ? null : (fileOf.get(partnerOf(pair) ?? '') ?? null);
    return horizons.map((horizonMinutes) => ({ pair, file, partnerFile, horizonMinutes, settings: taskSettings }));
  });
  const jobs = Math.max(1, Math.min(options.jobs ?? availableParallelism(), tasks.length));
  log(`evaluating ${tasks.length} pair/horizon tasks on ${jobs} thread${jobs === 1 ? '' : 's'}`);
  const prefix = (index: number): string => `[${tasks[index]?.pair} ${tasks[index]?.horizonMinutes}m]`;
  let finished = 0;
  options.onProgress?.(0, tasks.length);
  const results: HorizonResult[] = await runTasks(
    tasks,
    jobs,
    {
      log: (index, line) => log(`${prefix(index)} ${line}`),
      done: (index) => {
        finished += 1;
        options.onProgress?.(finished, tasks.length);
        log(
          `${prefix(index)} done (${finished}/${tasks.length}, ${((performance.now() - started) / 1000).toFixed(1)}s)`,
        );
      },
    },
    cache,
  );
  return { settings, pairs, results, seconds: (performance.now() - started) / 1000 };
}
