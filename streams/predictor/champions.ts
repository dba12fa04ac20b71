/**
 * Keeps the champion model of every (pair, horizon) loaded (the challenger while there is
 * no champion) and follows the registry's aliases: a poll finds a moved alias, loads the new version's ONNX graph, and
 * swaps it in between two predictions. The old session is closed one poll later, once no
 * prediction can still be running on it.
 *
 * MLflow down: at start the predictor waits for it (not ready) rather than serving a model
 * cached from an earlier run, because predictions must equal an uninterrupted run's, which
 * used the champion the registry names now, and a cache could be any older version; while
 * serving, the models loaded keep serving, and a champion moved meanwhile is loaded at the
 * first poll MLflow answers.
 */
import { sleep } from '../../lib/backoff.ts';
import { DependencyOutageError, type DependencyHealth } from '../../lib/dependencies.ts';
import type { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { counter, gauge } from '../../lib/metrics.ts';
import { RegistryError, type ModelRegistry } from '../../registry/registry.ts';
import { loadOnnxModel, type OnnxModel } from '../../training/onnx/session.ts';
import { featureNames } from '../../training/features.ts';
import { CROSS_ASSET_FEATURE_NAMES } from '../../training/cross-asset.ts';
import { SENTIMENT_FEATURE_NAMES } from '../../training/sentiment.ts';
import {
  CHALLENGER_ALIAS,
  CHAMPION_ALIAS,
  FEATURES_ARTIFACT,
  INTERVAL_METRIC,
  modelName,
  ONNX_ARTIFACT,
} from '../../registry/model-names.ts';

const swaps = counter('tickcast_predictor_model_swaps_total', 'Champion models loaded', ['model']);
const loadFailures = counter('tickcast_predictor_model_load_failures_total', 'Champion versions that failed to load', [
  'model',
]);
const championVersion = gauge('tickcast_predictor_champion_version', 'Version number serving as champion', ['model']);

/** What a model reads besides the indicators: nothing, the coin's news sentiment, or the partner pair's returns. */
export type ModelInputs = 'indicators' | 'indicators+sentiment' | 'indicators+partner';

export interface Champion {
  readonly modelName: string;
  readonly version: string;
  readonly onnx: OnnxModel;
  readonly inputs: ModelInputs;
  /** Half-width of the 90% interval in log-return space; null when the run logged none. */
  readonly intervalHalfWidth: number | null;
}

export interface ChampionsOptions {
  readonly pairs: readonly string[];
  readonly horizons: readonly number[];
  readonly pollMs: number;
  /** How long start() waits for a registry that does not answer (MLFLOW_MAX_OUTAGE_MS). Default 5 minutes. */
  readonly maxOutageMs?: number;
  /**
   * Where the registry's reachability is reported, as `mlflow` (/ready, tickcast_dependency_up,
   * one log line per change). Unset for the local registry, which is no service.
   */
  readonly health?: DependencyHealth;
}

/** A registry that did not answer for some model: the models it could not look up keep what they serve. */
class RegistryUnreachable extends Error {
  constructor(cause: TickcastError) {
    super(cause.message, { cause });
    this.name = 'RegistryUnreachable';
  }
}

export class Champions {
  private readonly current = new Map<string, Champion>();
  private retired: Champion[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly options: ChampionsOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * Loads what is champion now, then keeps following the alias. Resolves only once the
   * registry has answered for every model: a predictor started without them would skip its
   * input and commit it, and those predictions would never be made. Until then it retries
   * every pollMs (the process is not ready: `mlflow` is down); beyond maxOutageMs it rejects
   * with a DependencyOutageError, so the process exits non-zero to be restarted.
   */
  async start(): Promise<void> {
    const since = Date.now();
    const maxOutageMs = this.options.maxOutageMs ?? 5 * 60_000;
    for (;;) {
      try {
        await this.poll();
        break;
      } catch (error) {
        if (!(error instanceof RegistryUnreachable)) throw error;
        if (Date.now() - since > maxOutageMs) {
          throw new DependencyOutageError('mlflow', Date.now() - since, `no model loaded: ${error.message}`);
        }
        await sleep(this.options.pollMs);
      }
    }
    this.timer = setInterval(() => {
      // An unreachable registry is reported (health) and the models in use keep serving.
      this.polling ??= this.poll()
        .catch((error: unknown) => {
          if (!(error instanceof RegistryUnreachable)) throw error;
        })
        .finally(() => {
          this.polling = undefined;
        });
    }, this.options.pollMs);
    this.timer.unref();
  }

  get(pair: string, horizonMinutes: number): Champion | undefined {
    return this.current.get(modelName(pair, horizonMinutes));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
    for (const champion of [...this.current.values(), ...this.retired]) await champion.onnx.close();
    this.current.clear();
    this.retired = [];
  }

  /**
   * One pass over every model: swap where the alias moved. A version that fails to load is
   * logged and counted, and the model in use stays. A registry that cannot be reached (or
   * asks us to slow down) for any model is reported once as `mlflow` down, and the pass
   * rejects with RegistryUnreachable after trying the others. Exposed for tests.
   */
  async poll(): Promise<void> {
    const retiring = this.retired;
    this.retired = [];
    for (const champion of retiring) await champion.onnx.close();
    let unreachable: TickcastError | undefined;
    for (const pair of this.options.pairs) {
      for (const horizon of this.options.horizons) {
        const name = modelName(pair, horizon);
        try {
          await this.refresh(name);
        } catch (error) {
          if (error instanceof RegistryError && error.retriable) {
            unreachable ??= error;
            continue;
          }
          loadFailures.inc({ model: name });
          this.logger.error({ err: error, model: name }, 'could not load the champion; keeping the one in use');
        }
      }
    }
    this.options.health?.report('mlflow', unreachable === undefined, unreachable?.message);
    if (unreachable) throw new RegistryUnreachable(unreachable);
  }

  private async refresh(name: string): Promise<void> {
    // Until a version has earned `champion`, the newest `challenger` serves: a model that
    // did not beat persistence predicts (close to) the current price, which is the honest
    // forecast, and every prediction names the version that made it.
    const version =
      (await this.registry.getVersionByAlias(name, CHAMPION_ALIAS)) ??
      (await this.registry.getVersionByAlias(name, CHALLENGER_ALIAS));
    const serving = this.current.get(name);
    if (!version || version.version === serving?.version) return;
    if (!version.runId) throw new Error(`${name} v${version.version} has no run to load its ONNX graph from`);
    const bytes = await this.registry.downloadArtifact(version.runId, ONNX_ARTIFACT);
    if (!bytes) throw new Error(`${name} v${version.version}: run ${version.runId} has no ${ONNX_ARTIFACT}`);
    const inputs = modelInputs(await this.registry.downloadArtifact(version.runId, FEATURES_ARTIFACT));
    const onnx = await loadOnnxModel(bytes);
    const halfWidth = version.metrics[INTERVAL_METRIC];
    this.current.set(name, {
      modelName: name,
      version: version.version,
      onnx,
      inputs,
      intervalHalfWidth: halfWidth !== undefined && Number.isFinite(halfWidth) ? halfWidth : null,
    });
    if (serving) this.retired.push(serving);
    swaps.inc({ model: name });
    championVersion.set({ model: name }, Number(version.version));
    const alias = version.aliases.includes(CHAMPION_ALIAS) ? CHAMPION_ALIAS : CHALLENGER_ALIAS;
    this.logger.info({ model: name, version: version.version, alias, previous: serving?.version }, `${alias} loaded`);
  }
}

/**
 * Which inputs a version's feature list (model/features.json) asks for. A list the
 * predictor cannot build is refused, so the serving version stays.
 */
export function modelInputs(featuresJson: Uint8Array | null): ModelInputs {
  // Versions registered before the list was recorded read indicators only.
  if (featuresJson === null) return 'indicators';
  const names = JSON.stringify(JSON.parse(Buffer.from(featuresJson).toString('utf8')));
  if (names === JSON.stringify(featureNames())) return 'indicators';
  if (names === JSON.stringify(featureNames(SENTIMENT_FEATURE_NAMES))) return 'indicators+sentiment';
  if (names === JSON.stringify(featureNames(CROSS_ASSET_FEATURE_NAMES))) return 'indicators+partner';
  throw new Error(`the model's inputs ${names} are not a feature list the predictor builds`);
}
