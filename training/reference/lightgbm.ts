/**
 * LightGBM (from PyPI) as a reference for tickcast's own median trees (models/trees.ts):
 * trained on the same rows, features, objective, CV folds and hyperparameter grid, with the
 * same shrinkage toward persistence chosen on VALIDATION, and scored on the same TEST rows
 * (`tickcast evaluate --reference lightgbm`, evaluate.ts).
 *
 * The rows go to a temporary directory as raw float64 files (50k rows × 20 features write
 * and load in milliseconds; CSV would only add parsing), `lightgbm_reference.py` runs in the
 * cached venv that `scripts/lightgbm-venv` prints (creating it on first use, ~15 s), and its
 * predicted log returns come back as JSON. The call is synchronous like the rest of the
 * evaluation, bounded by a timeout, and the directory is removed whatever happens.
 *
 * Where LightGBM cannot mirror trees.ts exactly: it bins raw values once on all of TRAIN
 * (lgb.cv shares one Dataset across folds; ours bins each fold's rows), stops CV on the
 * mean fold curve (ours stops each fold on its own curve), and its l1 leaf value is the
 * plain median of the leaf's residuals (ours shrinks it by count / (count + l2)).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Row } from '../dataset.ts';
import { dieboldMariano } from '../metrics.ts';
import { chooseShrinkage } from '../models/shrinkage.ts';
import type { Fold } from '../splits.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCRIPT = join(HERE, 'lightgbm_reference.py');
const VENV_SCRIPT = resolve(HERE, '../../scripts/lightgbm-venv');

/** A row as the reference needs it: a dataset row without its time. */
export type ReferenceRow = Pick<Row, 'x' | 'y' | 'close' | 'futureClose'>;

export interface ReferenceInput {
  readonly featureNames: readonly string[];
  readonly train: readonly ReferenceRow[];
  readonly validation: readonly ReferenceRow[];
  readonly test: readonly ReferenceRow[];
  /** Expanding-window folds over `train` (indices into it), as the candidates used. */
  readonly folds: readonly Fold[];
  readonly horizonMinutes: number;
}

export interface ReferenceSettings {
  /** LightGBM's name of the loss: l1 mirrors median-trees, l2 the squared-loss trees. */
  readonly objective?: 'l1' | 'l2';
  readonly depths?: readonly number[];
  readonly maxRounds?: number;
  readonly learningRate?: number;
  readonly minLeaf?: number;
  readonly l2?: number;
  readonly maxBins?: number;
  readonly patience?: number;
  /** LightGBM threads; the evaluation machine has 2 cores. */
  readonly threads?: number;
  /** Bound on one run, venv creation included; default 10 minutes. */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** LightGBM on TEST, after the shrinkage chosen on VALIDATION. */
export interface ReferenceResult {
  readonly name: 'lightgbm';
  readonly objective: 'l1' | 'l2';
  /** TEST price MAE, USD. */
  readonly mae: number;
  /** mae / persistence MAE on the same rows. */
  readonly maeRatio: number;
  /** Diebold–Mariano t of |LightGBM error| − |persistence error| (HAC, metrics.ts). */
  readonly t: number;
  readonly depth: number;
  readonly rounds: number;
  readonly cvMae: number;
  readonly shrinkage: number;
  /** Wall time of the whole reference run (write, Python, read back). */
  readonly seconds: number;
}

/** What the Python script prints: a wrong shape here is a bug there, so it is checked. */
const Output = z.object({
  depth: z.number().int(),
  rounds: z.number().int(),
  cvMae: z.number(),
  validation: z.array(z.number()),
  test: z.array(z.number()),
});

/** Captured Python output kept in memory at most (LightGBM is silent at verbosity −1). */
const MAX_OUTPUT_BYTES = 1 << 20;

/** The venv's Python, created on first use (scripts/lightgbm-venv; its progress goes to `log`). */
export function lightgbmPython(timeoutMs = 10 * 60_000, log: (line: string) => void = () => {}): string {
  const run = spawnSync(VENV_SCRIPT, [], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES });
  for (const line of run.stderr.split('\n')) if (line !== '') log(line);
  if (run.error !== undefined || run.status !== 0) {
    throw new Error(`scripts/lightgbm-venv failed: ${run.error?.message ?? `exit ${run.status}`} ${run.stderr.trim()}`);
  }
  return run.stdout.trim();
}

function writeMatrix(file: string, rows: readonly ReferenceRow[], features: number): void {
  const values = new Float64Array(rows.length * features);
  rows.forEach((r, i) => values.set(r.x, i * features));
  writeFileSync(file, values);
}

/**
 * Runs `lightgbm_reference.py` on `directory` (already holding its input) and returns its
 * parsed output; throws with the script's own message when it fails or exceeds the timeout.
 */
export function runReferenceScript(python: string, directory: string, timeoutMs: number): z.infer<typeof Output> {
  const run = spawnSync(python, [SCRIPT, directory], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: MAX_OUTPUT_BYTES,
    stdio: ['ignore', 'pipe', 'pipe'],
    // LightGBM's OpenMP threads spin while they wait by default; on 2 cores shared with other
    // work that starves them (measured: 50 rounds on 30k rows took 2-6 s at load 5, 0.2 s passive).
    env: { ...process.env, OMP_WAIT_POLICY: 'passive' },
  });
  if (run.error !== undefined) {
    const timedOut = (run.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    throw new Error(`lightgbm_reference.py ${timedOut ? `did not finish within ${timeoutMs} ms` : run.error.message}`);
  }
  if (run.status !== 0) {
    throw new Error(`lightgbm_reference.py exited ${run.status ?? run.signal}: ${run.stderr.trim().split('\n').pop()}`);
  }
  return Output.parse(JSON.parse(readFileSync(join(directory, 'output.json'), 'utf8')));
}

/** Trains and scores the reference (see the module comment). */
export function lightgbmReference(input: ReferenceInput, settings: ReferenceSettings = {}): ReferenceResult {
  const started = performance.now();
  const timeoutMs = settings.timeoutMs ?? 10 * 60_000;
  const objective = settings.objective ?? 'l1';
  const python = lightgbmPython(timeoutMs, settings.log);
  const F = input.featureNames.length;
  const directory = mkdtempSync(join(tmpdir(), 'tickcast-lightgbm-'));
  try {
    const spec = {
      features: F,
      rows: { train: input.train.length, validation: input.validation.length, test: input.test.length },
      folds: input.folds,
      objective,
      depths: settings.depths ?? [2, 3, 4],
      maxRounds: settings.maxRounds ?? 300,
      learningRate: settings.learningRate ?? 0.05,
      minLeaf: settings.minLeaf ?? 200,
      l2: settings.l2 ?? 10,
      maxBins: settings.maxBins ?? 64,
      patience: settings.patience ?? 50,
      threads: settings.threads ?? 2,
    };
    writeFileSync(join(directory, 'input.json'), JSON.stringify(spec));
    writeMatrix(join(directory, 'train_x.f64'), input.train, F);
    writeMatrix(join(directory, 'validation_x.f64'), input.validation, F);
    writeMatrix(join(directory, 'test_x.f64'), input.test, F);
    writeFileSync(
      join(directory, 'train_y.f64'),
      Float64Array.from(input.train, (r) => r.y),
    );
    const output = runReferenceScript(python, directory, timeoutMs);
    if (output.validation.length !== input.validation.length || output.test.length !== input.test.length) {
      throw new Error('lightgbm_reference.py returned the wrong number of predictions');
    }
    // The same shrinkage choice as every candidate's (evaluate.ts), on LightGBM's own validation predictions.
    const { factor } = chooseShrinkage(output.validation, input.validation);
    const modelErrors = input.test.map((r, i) =>
      Math.abs(r.close * Math.exp(factor * (output.test[i] ?? NaN)) - r.futureClose),
    );
    const baselineErrors = input.test.map((r) => Math.abs(r.close - r.futureClose));
    const mean = (v: readonly number[]): number => v.reduce((s, e) => s + e, 0) / v.length;
    const mae = mean(modelErrors);
    return {
      name: 'lightgbm',
      objective,
      mae,
      maeRatio: mae / mean(baselineErrors),
      t: dieboldMariano(modelErrors, baselineErrors, input.horizonMinutes).t,
      depth: output.depth,
      rounds: output.rounds,
      cvMae: output.cvMae,
      shrinkage: factor,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
