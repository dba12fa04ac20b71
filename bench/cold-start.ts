/**
 * Cold start: `tickcast start` as a user first runs it, on a fresh data directory, in both
 * offline modes (Kraken unreachable: a closed local port, so the probe answers at once):
 * - plain `npm start`: the SIMULATED market, its first models trained on simulated history;
 * - `npm start -- --replay FILE`: the real BTC/USD candle export, first models trained on it.
 * Everything else is the defaults (pairs, horizons, registry poll, replay speed). This process
 * follows the service from outside and prints the time from launch to: the gateway listening
 * (its log line), the first stored candle (the store's row counter on /metrics), the first
 * model registered (the "initial model trained" line), the first `predictionCreated` a
 * graphql-ws subscriber receives through the gateway; and that last figure over the 30 s goal.
 * A line per mode before the table gives the time each phase's log line arrived (the bus
 * ready, the embedded feature store open, the first model loaded by the predictor, ...).
 *
 * BENCH_PROFILE_DIR=dir: the service runs as `node --cpu-prof` (Node refuses the flag in
 * NODE_OPTIONS, so bin/tickcast's command line is spelled out), and so do its training children
 * (they inherit its node flags), each writing a .cpuprofile into dir/<mode>.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { BTC_CANDLES, repoRoot, requireData } from '../test/support/data.ts';
import { freePort, scrape } from '../test/support/ports.ts';
import { startService, stopGracefully, type Service } from '../test/support/processes.ts';

const GOAL_MS = 30_000;
/** A run that has not predicted by then is reported as such, not waited for. */
const GIVE_UP_MS = 240_000;
const CANDLES = 'tickcast_store_rows_written_total{table="candles"}';

interface Mode {
  readonly name: string;
  readonly args: readonly string[];
}

/** Log lines (pino's msg) whose first appearance marks a phase. */
const PHASES: readonly [label: string, msg: RegExp][] = [
  ['bus ready', /"msg":"bus ready"/],
  ['feature store open', /"msg":"embedded feature store \(PGlite\) started"/],
  ['gateway listening', /"msg":"gateway listening"/],
  ['service running', /"msg":"tickcast is running"/],
  ['first model registered', /"msg":"initial model trained"/],
  ['first model loaded by the predictor', /"msg":"(champion|challenger) loaded"/],
];

interface Timeline {
  /** Milliseconds after launch, as this process saw each line arrive. */
  readonly phases: Map<string, number>;
  firstCandle?: number;
  firstPrediction?: number;
}

async function runMode(mode: Mode): Promise<Timeline> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tickcast-cold-'));
  const [metricsPort, gatewayPort, closed] = [await freePort(), await freePort(), await freePort()];
  const profileDir = process.env['BENCH_PROFILE_DIR'];
  const timeline: Timeline = { phases: new Map() };
  const launched = performance.now();
  const since = (): number => Math.round(performance.now() - launched);
  const env = {
    TICKCAST_DATA_DIR: dataDir,
    METRICS_PORT: String(metricsPort),
    GATEWAY_PORT: String(gatewayPort),
    KRAKEN_WS_URL: `ws://127.0.0.1:${closed}`,
  };
  const service: Service = profileDir
    ? profiledService(['start', ...mode.args], env, join(profileDir, mode.name))
    : startService(`cold-start ${mode.name}`, ['start', ...mode.args], env, { embedded: true });
  const onOutput = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    for (const [label, pattern] of PHASES) {
      if (!timeline.phases.has(label) && pattern.test(text)) timeline.phases.set(label, since());
    }
  };
  service.child.stdout?.on('data', onOutput);
  service.child.stderr?.on('data', onOutput);
  const exited = service.exited.then((code) => {
    throw new Error(`tickcast start exited (${String(code)}) before its first prediction:\n${service.output()}`);
  });
  exited.catch(() => undefined);

  let client: ReturnType<typeof createClient> | undefined;
  try {
    const key = await until(exited, () => /this session's admin key is (tck_session_\S+)/.exec(service.output())?.[1]);
    const delivered = new Promise<void>((resolve, reject) => {
      client = createClient({
        url: `ws://127.0.0.1:${gatewayPort}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { 'x-api-key': key },
        retryAttempts: 0,
      });
      client.subscribe(
        { query: 'subscription { predictionCreated { pair horizonMinutes predictedPrice } }' },
        {
          next: () => {
            timeline.firstPrediction ??= since();
            resolve();
          },
          error: (error) => reject(new Error(`subscription failed: ${JSON.stringify(error)}`)),
          complete: () => {},
        },
      );
    });
    delivered.catch(() => undefined);
    await until(exited, async () => {
      if (timeline.firstCandle === undefined && (await scrape(metricsPort, CANDLES)) > 0)
        timeline.firstCandle = since();
      return timeline.firstPrediction !== undefined && timeline.firstCandle !== undefined ? true : undefined;
    });
  } finally {
    await client?.dispose();
    await stopGracefully(service);
    await rm(dataDir, { recursive: true, force: true });
  }
  return timeline;
}

/** bin/tickcast's node command with --cpu-prof, the environment as startService gives it. */
function profiledService(args: readonly string[], env: Record<string, string>, dir: string): Service {
  const inherited = { ...process.env };
  for (const variable of ['KAFKA_BROKERS', 'DATABASE_URL', 'MLFLOW_TRACKING_URI', 'ELASTICSEARCH_URL'])
    delete inherited[variable];
  const loader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
  const child = spawn(
    process.execPath,
    [
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      '--enable-source-maps',
      '--import',
      loader,
      join(repoRoot, 'cli/main.ts'),
      ...args,
    ],
    { cwd: repoRoot, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  return { name: 'cold-start (profiled)', child, output: () => output, exited };
}

/** Polls `probe` every 100 ms until it answers a value; rejects when `failed` does or after GIVE_UP_MS. */
async function until<T>(failed: Promise<never>, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + GIVE_UP_MS;
  const poll = (async () => {
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (performance.now() > deadline) throw new Error(`not within ${GIVE_UP_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return Promise.race([poll, failed]);
}

const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(1));

export async function run(): Promise<void> {
  const modes: Mode[] = [
    { name: 'plain', args: [] },
    { name: 'replay', args: ['--replay', requireData(BTC_CANDLES)] },
  ];
  process.stdout.write(
    `\ncold start: tickcast start on a fresh data directory, Kraken unreachable, defaults otherwise ` +
      `(${cpus().length} cores, load ${loadavg()[0]?.toFixed(1)})\n\n`,
  );
  const rows: string[][] = [];
  for (const mode of modes) {
    const timeline = await runMode(mode);
    const phases = [...timeline.phases].map(([label, ms]) => `${label} ${seconds(ms)}`).join(', ');
    rows.push([
      mode.name === 'plain' ? 'npm start' : 'npm start -- --replay FILE',
      seconds(timeline.phases.get('gateway listening')),
      seconds(timeline.firstCandle),
      seconds(timeline.phases.get('first model registered')),
      seconds(timeline.firstPrediction),
      timeline.firstPrediction === undefined ? '-' : (timeline.firstPrediction / GOAL_MS).toFixed(2),
    ]);
    process.stdout.write(`  ${mode.name}: ${phases}\n`);
  }
  const header = [
    'command',
    'gateway listening s',
    'first candle s',
    'first model registered s',
    'first prediction delivered s',
    'ratio to the 30 s goal',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  process.stdout.write(
    `\n${[line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n` +
      '(ratio = first prediction delivered / 30 s: the goal is ≤ 1)\n',
  );
}
