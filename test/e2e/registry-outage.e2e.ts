/**
 * MLflow stopped (`scripts/services down|up mlflow`) at predictor start and during a hot
 * swap. Real BTC/USD minutes (renamed to a pair of this test's own, so its registered
 * model is too) flow through the candles and indicators processors on Kafka into the
 * predictor, a `tickcast stream predictor` process of its own; its champion is a constant
 * linear graph registered in MLflow, so each prediction says which version made it.
 *
 * At start with MLflow down the predictor answers /ready 503 naming mlflow, makes no
 * prediction (none without a model, and none of its input committed unpredicted), and once
 * MLflow is back predicts every minute: the same predictions as an uninterrupted run. During
 * a hot swap (a new champion registered, then MLflow stopped before the predictor polls) it
 * keeps predicting with the version it has, says mlflow is down, and serves the new
 * champion once MLflow is back. Never an exit, one log line per change of state.
 *
 * This test stops the MLflow every other e2e test uses: run it alone, or against an
 * instance of its own (TICKCAST_*_PORT, TICKCAST_SERVICES_DIR).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { predictionSchema, type MarketEvent } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { decodeValue } from '../../streams/bus/codec.ts';
import { MemoryBus } from '../../streams/bus/memory.ts';
import { replayCandles } from '../../streams/sources/candle-replay.ts';
import { createBus } from '../../streams/runtime.ts';
import { modelName } from '../../registry/model-names.ts';
import { MlflowRegistry } from '../../registry/mlflow.ts';
import { BTC_CANDLES, FULL_DAY } from '../support/data.ts';
import { registerConstantChampion } from '../support/champions.ts';
import { loadDay } from '../support/market-data.ts';
import { hasExited, ready, startSupervised, type Supervised } from '../support/outage.ts';
import { services } from '../support/service-control.ts';
import { startProcessors } from '../support/pipeline.ts';
import { scrape } from '../support/ports.ts';
import { stopGracefully } from '../support/processes.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const suffix = Date.now().toString(36).toUpperCase().slice(-5);
const PAIR = `R${suffix}/USD`;
const MODEL = modelName(PAIR, 1);
const HOUR = 3_600_000;

/** What the comparison looks at: which minute, what was predicted, by which version. */
interface Made {
  readonly id: string;
  readonly predictedPrice: number;
  readonly modelVersion: string;
}

async function events(from: number, to: number): Promise<MarketEvent[]> {
  const out: MarketEvent[] = [];
  await replayCandles(await loadDay(BTC_CANDLES, { from, to }), async (batch) => void out.push(...batch), {
    pair: PAIR,
    speed: 0,
  });
  return out;
}

const publish = (bus: Bus, batch: readonly MarketEvent[]): Promise<void> =>
  bus.publish(batch.map((value) => ({ topic: TOPICS.marketEvents.name, key: value.pair, value })));

/** Collects every prediction published on `bus`, by id. */
async function collect(bus: Bus, into: Map<string, Made>): Promise<RunningTask> {
  return bus.consume({
    groupId: 'test-predictions',
    topics: [TOPICS.predictions.name],
    fromBeginning: true,
    handler: async (records) => {
      for (const record of records) {
        const p = decodeValue(predictionSchema, record);
        into.set(p.id, { id: p.id, predictedPrice: p.predictedPrice, modelVersion: p.modelVersion });
      }
    },
  });
}

/** Resolves once `made` has not grown for `quietMs`. */
async function settled(what: string, made: Map<string, Made>, atLeast: number, quietMs = 3_000): Promise<void> {
  let seen = -1;
  await waitFor(
    what,
    async () => {
      const done = made.size >= atLeast && made.size === seen;
      seen = made.size;
      return done;
    },
    180_000,
    quietMs,
  );
}

const byId = (made: Map<string, Made>): Made[] => [...made.values()].sort((a, b) => a.id.localeCompare(b.id));

describe('MLflow down at predictor start and during a hot swap', () => {
  const start = FULL_DAY.from;
  let phaseA: MarketEvent[];
  let phaseB: MarketEvent[];
  let phaseC: MarketEvent[];
  let registry: MlflowRegistry;
  const reference = new Map<string, Made>();
  let iso: Isolation;
  let bus: Bus;
  let tasks: RunningTask[] = [];
  const made = new Map<string, Made>();
  let predictor: Supervised;
  let atStart: { ready?: { status: number; body: string }; gauge?: number; made?: number } = {};
  let inSwap: { ready?: { status: number; body: string }; versionDuring?: number; versionsMade?: string[] } = {};
  let afterStart: Made[] = [];
  let versionAfter = 0;
  let versionsAfter: string[] = [];
  let v1 = '';
  let v2 = '';

  before(async () => {
    const mlflow = process.env['MLFLOW_TRACKING_URI'];
    if (!mlflow) throw new Error('needs MLflow: run `scripts/services up` and `eval "$(scripts/services env)"`');
    registry = new MlflowRegistry({ trackingUri: mlflow });
    [phaseA, phaseB, phaseC] = await Promise.all([
      events(start, start + 3 * HOUR),
      events(start + 3 * HOUR, start + 4 * HOUR),
      events(start + 4 * HOUR, start + 5 * HOUR),
    ]);
    v1 = await registerConstantChampion(registry, MODEL, 0.001);
    const env = {
      MLFLOW_TRACKING_URI: mlflow,
      PAIRS: PAIR,
      PREDICTION_HORIZONS: '1',
      CANDLE_INTERVALS: '1m',
      CHAMPION_POLL_MS: '1000',
      DEPENDENCY_CHECK_INTERVAL_MS: '1000',
      MLFLOW_MAX_OUTAGE_MS: '300000',
      LOG_LEVEL: 'info',
    };

    // The uninterrupted run: the same processors in this process, on the in-process bus, MLflow up.
    const ref = await isolate('regref', env);
    const memory = new MemoryBus();
    await memory.ensureTopics(Object.values(TOPICS));
    const refTasks = [...(await startProcessors(ref, memory, ['candles', 'indicators', 'predictor']))];
    refTasks.push(await collect(memory, reference));
    await publish(memory, phaseA);
    await settled('the uninterrupted run', reference, 100);
    for (const task of refTasks) await task.stop();
    await memory.close();
    await ref.close();

    iso = await isolate('regout', env);
    bus = await createBus(iso.config, testLogger);
    tasks = await startProcessors(iso, bus, ['candles', 'indicators']);
    tasks.push(await collect(bus, made));

    // 1. MLflow down at predictor start.
    await services('down', 'mlflow');
    predictor = await startSupervised(iso, 'predictor', env);
    await publish(bus, phaseA);
    await waitFor(
      "the predictor's /ready to name mlflow",
      async () => {
        const answer = await ready(predictor.port);
        if (answer?.status !== 503 || !answer.body.includes('mlflow')) return false;
        atStart = { ready: answer, gauge: await scrape(predictor.port, 'tickcast_dependency_up{dependency="mlflow"}') };
        return true;
      },
      60_000,
      200,
    );
    // The indicators are there, waiting: give a predictor without a model time to (wrongly) skip them.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    atStart.made = made.size;
    await services('up', 'mlflow');
    await settled('the predictions once MLflow is back', made, reference.size);
    afterStart = byId(made);
    await waitFor('the predictor ready', async () => (await ready(predictor.port))?.status === 200, 30_000);

    // 2. A new champion, then MLflow stopped before the predictor polls again: the predictor is
    // paused meanwhile (SIGSTOP), so its next poll is certain to find MLflow down.
    predictor.service.child.kill('SIGSTOP');
    try {
      v2 = await registerConstantChampion(registry, MODEL, -0.001);
      await services('down', 'mlflow');
    } finally {
      predictor.service.child.kill('SIGCONT');
    }
    await waitFor(
      "the predictor's /ready to name mlflow again",
      async () => {
        const answer = await ready(predictor.port);
        if (answer?.status !== 503 || !answer.body.includes('mlflow')) return false;
        inSwap = { ready: answer };
        return true;
      },
      30_000,
      200,
    );
    const beforeB = new Set(made.keys());
    await publish(bus, phaseB);
    await settled('predictions during the MLflow outage', made, beforeB.size + 50);
    inSwap.versionDuring = await scrape(predictor.port, `tickcast_predictor_champion_version{model="${MODEL}"}`);
    inSwap.versionsMade = [...new Set([...made.values()].filter((m) => !beforeB.has(m.id)).map((m) => m.modelVersion))];
    await services('up', 'mlflow');
    await waitFor(
      'the new champion loaded',
      async () =>
        (await scrape(predictor.port, `tickcast_predictor_champion_version{model="${MODEL}"}`)) === Number(v2),
      120_000,
      500,
    );
    versionAfter = await scrape(predictor.port, `tickcast_predictor_champion_version{model="${MODEL}"}`);
    const beforeC = new Set(made.keys());
    await publish(bus, phaseC);
    await settled('predictions after the swap', made, beforeC.size + 50);
    // The first minute of phase C closes the last of phase B: made by whichever version served then.
    versionsAfter = [
      ...new Set(
        [...made.values()]
          .filter((m) => !beforeC.has(m.id))
          .slice(1)
          .map((m) => m.modelVersion),
      ),
    ];
  });

  after(async () => {
    await services('up', 'mlflow');
    if (predictor) await stopGracefully(predictor.service);
    for (const task of tasks) await task.stop();
    await bus?.close();
    await iso?.close();
  });

  it('at start: /ready answered 503 naming mlflow, tickcast_dependency_up{dependency="mlflow"} was 0, and nothing was predicted', () => {
    assert.equal(atStart.ready?.status, 503);
    const body = JSON.parse(atStart.ready?.body ?? '{}') as { down: { dependency: string }[] };
    assert.deepEqual(
      body.down.map((d) => d.dependency),
      ['mlflow'],
    );
    assert.equal(atStart.gauge, 0);
    assert.equal(atStart.made, 0);
  });

  it('at start: once MLflow is back, made the same predictions as an uninterrupted run', () => {
    assert.ok(reference.size > 100, `reference predictions: ${reference.size}`);
    assert.deepEqual(afterStart, byId(reference));
  });

  it('during a hot swap: kept predicting with the version it had while MLflow was down, /ready naming mlflow', () => {
    assert.equal(inSwap.ready?.status, 503);
    assert.match(inSwap.ready?.body ?? '', /mlflow/);
    assert.equal(inSwap.versionDuring, Number(v1));
    assert.deepEqual(inSwap.versionsMade, [v1]);
  });

  it('during a hot swap: served the new champion once MLflow was back', () => {
    assert.equal(versionAfter, Number(v2));
    assert.deepEqual(versionsAfter, [v2]);
  });

  it('never exited; logged each outage once, and each recovery once', async () => {
    assert.equal(hasExited(predictor), false, predictor.service.output().slice(-4000));
    assert.equal((await ready(predictor.port))?.status, 200);
    const output = predictor.service.output();
    assert.equal((output.match(/dependency down: mlflow/g) ?? []).length, 2, output.slice(-4000));
    assert.equal((output.match(/dependency up again: mlflow/g) ?? []).length, 2, output.slice(-4000));
  });
});
