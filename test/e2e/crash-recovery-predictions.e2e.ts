/**
 * SIGKILL the predictor and the error monitor repeatedly while a real day of BTC/USD replays
 * through Kafka (under a pair name of its own, served by a model registered in MLflow for it);
 * the stored predictions with their outcomes, and the rolling model performance, must equal an
 * uninterrupted run, and every prediction and outcome be on Kafka exactly once. A kill counts
 * only when the killed processor still had uncommitted input right after it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import type { MarketEvent } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { createBus } from '../../streams/runtime.ts';
import { rowCounts, tableDifferences } from '../support/compare.ts';
import { randomDelay, StreamProcesses } from '../support/kill-rounds.ts';
import { dayEvents, publishEvents } from '../support/market-data.ts';
import { mlflowRegistry, mlflowTrackingUri, syntheticMarket, trainOneMinute } from '../support/models.ts';
import { startProcessors } from '../support/pipeline.ts';
import { isolate, requireServices, testLogger, waitFor, type Isolation } from '../support/services.ts';

const PAIR = `K${Date.now().toString(36).toUpperCase().slice(-5)}/USD`;
/**
 * The day is published in MAX_ROUNDS + 1 slices; kill rounds go on until each processor has
 * LANDED_KILLS kills that landed, then the rest flows without kills (a busy machine makes
 * more kills come late: the e2e files run two at a time).
 */
const MAX_ROUNDS = 10;
const LANDED_KILLS = 3;
const KILLED = ['predictor', 'monitor'] as const;
const INPUT_OF = { predictor: TOPICS.indicators.name, monitor: TOPICS.predictions.name };
/** Upstream and the writers run in the test process: only the processors under test are killed. */
const IN_PROCESS = ['candles', 'indicators', 'store-writer', 'predictions-writer'] as const;
const ENV = {
  PAIRS: PAIR,
  PREDICTION_HORIZONS: '1',
  CANDLE_INTERVALS: '1m',
};

interface Run {
  readonly iso: Isolation;
  readonly bus: Bus;
  readonly tasks: RunningTask[];
  readonly processes: StreamProcesses;
}

async function startRun(label: string): Promise<Run> {
  const iso = await isolate(label, { ...ENV, MLFLOW_TRACKING_URI: mlflowTrackingUri() });
  const bus = await createBus(iso.config, testLogger);
  const tasks = await startProcessors(iso, bus, IN_PROCESS);
  const processes = new StreamProcesses(iso, INPUT_OF);
  for (const name of KILLED) processes.start(name);
  return { iso, bus, tasks, processes };
}

async function stopRun(run: Run): Promise<Record<string, unknown>> {
  const exits = await run.processes.stopAll();
  for (const task of run.tasks.reverse()) await task.stop();
  await run.bus.close();
  return exits;
}

/** What the run has stored: predictions, those with their outcome, and the rolling windows' counts. */
async function progress(iso: Isolation): Promise<string> {
  const { rows } = await iso.pool.query<{ predictions: number; outcomes: number; windowed: number }>(
    `SELECT (SELECT count(*)::int FROM predictions) AS predictions,
            (SELECT count(*)::int FROM predictions WHERE actual_price IS NOT NULL) AS outcomes,
            (SELECT COALESCE(sum(count), 0)::int FROM model_performance) AS windowed`,
  );
  return JSON.stringify(rows[0]);
}

describe('crash recovery of the predictor and the error monitor', () => {
  let events: MarketEvent[];
  let reference: Run;
  let crashed: Run;
  let referenceProgress: string;
  const shutdowns: Record<string, unknown>[] = [];

  before(async () => {
    const model = await trainOneMinute(mlflowRegistry(), PAIR, syntheticMarket(55, 0).history);
    assert.equal(model.alias, 'champion', model.reason);
    events = await dayEvents(PAIR);

    // The uninterrupted run: the whole day at once, until what is stored stops changing.
    reference = await startRun('predref');
    await publishEvents(reference.bus, events);
    let last = '';
    await waitFor(
      'the uninterrupted run to settle',
      async () => {
        const now = await progress(reference.iso);
        const settled = now === last && JSON.parse(now).outcomes > 0;
        last = now;
        return settled;
      },
      180_000,
      3_000,
    );
    referenceProgress = last;
    shutdowns.push(await stopRun(reference));

    // The same day in slices; each slice piles up for both processors while they are down, and
    // each is killed at a random moment while it works through its pile.
    crashed = await startRun('predcrash');
    const { processes } = crashed;
    const slice = Math.ceil(events.length / (MAX_ROUNDS + 1));
    let round = 0;
    for (; round < MAX_ROUNDS && !processes.landedAtLeast(KILLED, LANDED_KILLS); round++) {
      await processes.kill('predictor');
      await processes.kill('monitor');
      await publishEvents(crashed.bus, events.slice(round * slice, (round + 1) * slice));
      await randomDelay(200);
      // The predictor gets through its pile in a transaction or two: killed soon after it joins.
      await processes.restartAndKillWhileBusy('predictor', 100);
      await processes.restartAndKillWhileBusy('monitor', 200);
    }
    await publishEvents(crashed.bus, events.slice(round * slice));
    await waitFor(
      'the crashed run to store what the uninterrupted one did',
      async () => (await progress(crashed.iso)) === referenceProgress,
      180_000,
      1_000,
    ).catch(async (error: Error) => {
      throw new Error(
        `${error.message}: ${await progress(crashed.iso)}, uninterrupted ${referenceProgress}, ` +
          `kills ${JSON.stringify(processes.kills)}\n${processes.logs()}`,
      );
    });
    // Room for a duplicate that a broken exactly-once would produce.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    shutdowns.push(await stopRun(crashed));
  });

  after(async () => {
    await reference?.iso.close();
    await crashed?.iso.close();
  });

  it('killed each processor at least three times while its input was still flowing', (t) => {
    const kills = crashed.processes.kills;
    t.diagnostic(`kills ${JSON.stringify(kills)}`);
    for (const name of KILLED) assert.ok((kills[name]?.landed ?? 0) >= LANDED_KILLS, JSON.stringify(kills));
  });

  it('every processor shuts down cleanly on SIGTERM', () => {
    assert.deepEqual(shutdowns, [
      { predictor: 0, monitor: 0 },
      { predictor: 0, monitor: 0 },
    ]);
  });

  for (const table of ['predictions', 'model_performance'] as const) {
    it(`stores ${table} identical to the uninterrupted run (EXCEPT both ways)`, async () => {
      assert.deepEqual(await tableDifferences(reference.iso.id, crashed.iso.id, table), []);
      const counts = await rowCounts(reference.iso.id, crashed.iso.id, table);
      assert.ok(counts.a > 0, `${table} has rows`);
      assert.equal(counts.b, counts.a);
    });
  }

  it('published every prediction and every outcome exactly once to Kafka (read committed)', async () => {
    const kafka = new Kafka({
      brokers: requireServices().brokers,
      clientId: 'crash-audit',
      logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({ groupId: `${crashed.iso.id}.audit`, readUncommitted: false });
    const topics = [TOPICS.predictions.name, TOPICS.predictionOutcomes.name];
    const seen = new Map<string, Map<string, number>>(topics.map((t) => [t, new Map()]));
    let total = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: topics.map((t) => `${crashed.iso.id}.${t}`), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        const { id } = JSON.parse(message.value!.toString()) as { id: string };
        const ids = seen.get(topic.slice(crashed.iso.id.length + 1))!;
        ids.set(id, (ids.get(id) ?? 0) + 1);
        total += 1;
      },
    });
    const { predictions, outcomes } = JSON.parse(referenceProgress) as { predictions: number; outcomes: number };
    await waitFor('the audit consumer to read both topics', async () => total >= predictions + outcomes, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await consumer.disconnect();
    const counts = topics.map((t) => [...seen.get(t)!.values()]);
    assert.deepEqual(
      counts.map((c) => c.length),
      [predictions, outcomes],
    );
    assert.ok(
      counts.every((c) => c.every((n) => n === 1)),
      'a prediction or an outcome was published more than once',
    );
  });
});
