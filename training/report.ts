/**
 * `tickcast evaluate`: runs evaluate.ts and prints its tables (stdout), progress on stderr.
 *
 *   npx tsx training/report.ts [--horizons 1,5,15] [--test-days 7] [--validation-days 7]
 *     [--alpha 0.1] [--folds 4] [--data-dir DIR] [--json FILE] [--reference lightgbm]
 *
 * `--json FILE` also writes the whole result, including each selected model's parameters
 * (the shapes of model-types.ts), for export and registration. `--reference lightgbm` also
 * trains LightGBM like our tree candidates and prints them side by side (reference/lightgbm.ts).
 */
import { writeFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { EvaluateOptions, EvaluateResult, HorizonResult } from './evaluate.ts';
import { evaluate } from './evaluate-pairs.ts';
import { SIGNIFICANT_T } from './metrics.ts';

const usd = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : String(v));
const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : 'n/a');
const bp = (v: number | null): string => (v === null ? '–' : (v * 1e4).toFixed(3));

/** A Markdown table with padded columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Whether the selected model beats persistence on TEST significantly: Diebold–Mariano t ≤ −2. */
export function verdict(r: HorizonResult): string {
  if (r.winner === 'persistence') return 'is persistence';
  const { mean, t } = r.testVsBaseline;
  if (!Number.isFinite(t)) return mean < 0 ? 'better (no variance)' : 'not better';
  if (t <= -SIGNIFICANT_T) return 'yes';
  if (t >= SIGNIFICANT_T) return 'no, worse';
  return 'no (not significant)';
}

function hyper(h: Readonly<Record<string, number>>): string {
  const entries = Object.entries(h);
  return entries.length === 0 ? '–' : entries.map(([k, v]) => `${k}=${v}`).join(' ');
}

export function formatReport(result: EvaluateResult): string {
  const out: string[] = [];
  const { settings } = result;
  const coverage = `${Math.round(100 * (1 - settings.alpha))}%`;
  out.push(
    `# tickcast evaluate: close log-return models vs persistence`,
    '',
    `TEST = last ${settings.testDays} days where every file has data (held out: no fitting, tuning, selection or calibration); ` +
      `VALIDATION = the ${settings.validationDays} days before (selection by price MAE + conformal calibration); ` +
      `TRAIN = the rest (${settings.folds}-fold expanding-window CV for hyperparameters). Embargo of h minutes at each boundary.`,
    '',
  );
  for (const p of result.pairs) {
    out.push(
      `- ${p.pair}: ${p.candles} one-minute candles ${p.first} → ${p.last}, ${p.flatCandles} without trades (flat), ` +
        `gaps ending ${p.gaps.join(', ') || 'none'}`,
    );
  }
  const periods = new Map(result.results.map((r) => [r.pair, r.periods]));
  for (const [pair, per] of periods) {
    out.push(
      `- ${pair}: TRAIN from ${per.trainFrom}, VALIDATION ${per.validationStart}, TEST ${per.testStart} → ${per.end}`,
    );
  }
  out.push('', `## TEST (selected model, fitted on TRAIN only)`, '');
  out.push(
    table(
      [
        'pair',
        'h',
        'selected',
        'n',
        'MAE $',
        'persistence MAE $',
        'ratio',
        'Δ MAE $ (DM t)',
        'beats persistence',
        'RMSE $',
        'dir. acc',
        'majority dir.',
        'flat',
        `split ${coverage} coverage`,
        'split width $',
        'adaptive coverage',
        'adaptive width $',
      ],
      result.results.map((r) => [
        r.pair,
        `${r.horizonMinutes}m`,
        r.winner,
        String(r.test.n),
        usd(r.test.mae),
        usd(r.test.baselineMae),
        r.test.maeRatio.toFixed(4),
        `${r.testVsBaseline.mean >= 0 ? '+' : ''}${r.testVsBaseline.mean.toFixed(3)} (t ${r.testVsBaseline.t.toFixed(2)})`,
        verdict(r),
        usd(r.test.rmse),
        r.test.zeroPredictionShare === 1 ? 'n/a' : pct(r.test.directionalAccuracy),
        pct(r.test.majorityShare),
        pct(r.test.flatShare),
        pct(r.test.intervalCoverage),
        usd(r.test.meanIntervalWidth),
        r.adaptive ? pct(r.adaptive.coverage) : 'n/a',
        r.adaptive ? usd(r.adaptive.meanWidth) : 'n/a',
      ]),
    ),
  );
  out.push('', '## VALIDATION (all candidates; selection by lowest MAE $)', '');
  out.push(
    table(
      [
        'pair',
        'h',
        'candidate',
        'hyperparameters (CV)',
        'CV MAE bp',
        'val MAE $',
        'val ratio',
        'val dir. acc',
        'fit s',
        '',
      ],
      result.results.flatMap((r) =>
        r.candidates.map((c) => [
          r.pair,
          `${r.horizonMinutes}m`,
          c.name,
          hyper(c.hyperparameters),
          bp(c.cvMae),
          usd(c.validation.mae),
          c.validation.maeRatio.toFixed(4),
          c.validation.zeroPredictionShare === 1 ? 'n/a' : pct(c.validation.directionalAccuracy),
          c.seconds.toFixed(1),
          c.name === r.winner ? 'selected' : '',
        ]),
      ),
    ),
  );
  out.push(
    '',
    'Definitions:',
    '- MAE $ = mean |close_t·exp(ŷ) − close_{t+h}|; persistence predicts close_{t+h} = close_t; ratio < 1 beats it.',
    '- Δ MAE = mean over TEST of |model error| − |persistence error| (USD); t = its Diebold–Mariano statistic (Newey–West',
    '  variance over max(h − 1, ⌈n^(1/3)⌉) lags, Harvey–Leybourne–Newbold correction). "beats persistence" = yes only when t ≤ −2.',
    '- dir. acc = correct sign / rows whose close moved (unchanged closes excluded; a 0 prediction counts as a miss);',
    '  n/a for persistence. majority dir. = share of the more frequent direction among those rows (hindsight).',
    '  flat = share of TEST rows whose close did not change over h.',
    `- split coverage = share of TEST closes inside the split-conformal ${coverage} interval calibrated on VALIDATION residuals;`,
    '  adaptive = the same predictions with the half-width tracked online from each outcome once it is known (starting',
    `  from the split one; adaptive-conformal.ts, γ ${result.results[0]?.adaptive?.gamma ?? 'n/a'}). Widths are means in USD; compare them only`,
    '  where the coverages are both near the target: a narrower interval that covers less is not better.',
    '- CV MAE bp = mean expanding-window CV MAE of the log return inside TRAIN, in basis points.',
    `- Refit policy: none; TEST measures the model fitted on TRAIN, exactly as selected and calibrated.`,
    '',
  );
  out.push(...referenceSection(result), `Total ${result.seconds.toFixed(1)}s.`);
  return out.join('\n');
}

/** `--reference lightgbm`: our tree candidates beside LightGBM with the same loss on TEST (nothing when not asked for). */
function referenceSection(result: EvaluateResult): string[] {
  const rows = result.results.flatMap((r) => (r.reference ?? []).map((ref) => ({ r, ref })));
  if (rows.length === 0) return [];
  return [
    '## Reference: LightGBM (same features, objective, split)',
    '',
    table(
      [
        'pair',
        'h',
        'ours',
        'LightGBM objective',
        'our MAE $',
        'LightGBM MAE $',
        'ours / LightGBM',
        'our ratio (t)',
        'LightGBM ratio (t)',
        'LightGBM depth, rounds, shrinkage',
        'LightGBM s',
      ],
      rows.map(({ r, ref }) => [
        r.pair,
        `${r.horizonMinutes}m`,
        ref.candidate,
        ref.lightgbm.objective,
        ref.ours.mae.toFixed(4),
        ref.lightgbm.mae.toFixed(4),
        (ref.ours.mae / ref.lightgbm.mae).toFixed(5),
        `${ref.ours.maeRatio.toFixed(5)} (${ref.ours.t.toFixed(2)})`,
        `${ref.lightgbm.maeRatio.toFixed(5)} (${ref.lightgbm.t.toFixed(2)})`,
        `${ref.lightgbm.depth}, ${ref.lightgbm.rounds}, ${ref.lightgbm.shrinkage}`,
        ref.lightgbm.seconds.toFixed(1),
      ]),
    ),
    '',
    '- Both on TEST with their own validation-chosen shrinkage, our candidate whether or not it was selected. LightGBM',
    '  with the loss and inputs of ours (l1 = median-trees[+partner], l2 = trees), its learning rate, max_bin, min_data_in_leaf,',
    '  lambda_l2 and depths; depth and rounds by lgb.cv over the same folds (lowest mean MAE, early stopping 50), refit on TRAIN.',
    '  ratio = MAE / persistence MAE, t = Diebold–Mariano.',
    '',
  ];
}

function numberList(value: string, name: string): number[] {
  const list = value.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !(Number.isInteger(n) && n > 0))) {
    throw new Error(`--${name} must be positive whole numbers separated by commas, got "${value}"`);
  }
  return list;
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
}

/** Parses the flags, runs the evaluation, prints the report; resolves to the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let options: EvaluateOptions;
  let jsonFile: string | undefined;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        horizons: { type: 'string' },
        'test-days': { type: 'string' },
        'validation-days': { type: 'string' },
        alpha: { type: 'string' },
        folds: { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'string' },
        reference: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(
        'usage: evaluate [--horizons 1,5,15] [--test-days 7] [--validation-days 7] [--alpha 0.1] [--folds 4] [--data-dir DIR] [--json FILE] [--reference lightgbm]\n',
      );
      return 0;
    }
    const alpha = positive(values.alpha, 'alpha');
    if (alpha !== undefined && alpha >= 1) throw new Error('--alpha must be below 1');
    const folds = positive(values.folds, 'folds');
    if (folds !== undefined && !Number.isInteger(folds)) throw new Error('--folds must be a whole number');
    const testDays = positive(values['test-days'], 'test-days');
    const validationDays = positive(values['validation-days'], 'validation-days');
    if (values.reference !== undefined && values.reference !== 'lightgbm') {
      throw new Error(`--reference must be lightgbm, got "${values.reference}"`);
    }
    options = {
      ...(values.horizons === undefined ? {} : { horizons: numberList(values.horizons, 'horizons') }),
      ...(testDays === undefined ? {} : { testDays }),
      ...(validationDays === undefined ? {} : { validationDays }),
      ...(alpha === undefined ? {} : { alpha }),
      ...(folds === undefined ? {} : { folds }),
      ...(values['data-dir'] === undefined ? {} : { dataDir: resolve(values['data-dir']) }),
      ...(values.reference === undefined ? {} : { reference: 'lightgbm' as const }),
    };
    jsonFile = values.json;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  // On a terminal: a progress bar over the (pair, horizon) tasks instead of the progress lines.
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: 'evaluate [{bar}] {value}/{total} pair-horizon tasks | {duration_formatted} | ETA {eta_formatted}',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const progress = (done: number, total: number): void => {
    if (done === 0) bar?.start(total, 0);
    else bar?.update(done);
  };
  const result = await evaluate({ ...options, ...(bar ? { log: () => {}, onProgress: progress } : {}) }).finally(() =>
    bar?.stop(),
  );
  process.stdout.write(`${formatReport(result)}\n`);
  if (jsonFile !== undefined) {
    await writeFile(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
    process.stderr.write(`wrote ${jsonFile}\n`);
  }
  return 0;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
