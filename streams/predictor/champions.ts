/**
 * Keeps the champion model of every (pair, horizon) loaded (the challenger while there is
 * no champion) and follows the registry's aliases: a poll finds a moved alias, loads the new version's ONNX graph, and
 * swaps it in between two predictions. The old session is closed one poll later, once no
 * prediction can still be running on it.
 */
import type { Logger } from '../../lib/logger.ts';
import { counter, gauge } from '../../lib/metrics.ts';
import type { ModelRegistry } from '../../registry/registry.ts';
import { loadOnnxModel, type OnnxModel } from '../../training/onnx/session.ts';
import { featureNames } from '../../training/features.ts';
import { SENTIMENT_FEATURE_NAMES } from '../../training/sentiment.ts';
import {
  CHALLENGER_ALIAS,
  CHAMPION_ALIAS,
  FEATURES_ARTIFACT,
  INTERVAL_METRIC,
  modelName,
  ONNX_ARTIFACT,
} from './model-names.ts';

const swaps = counter('tickcast_predictor_model_swaps_total', 'Champion models loaded', ['model']);
const loadFailures = counter('tickcast_predictor_model_load_failures_total', 'Champion versions that failed to load', [
  'model',
]);
const championVersion = gauge('tickcast_predictor_champion_version', 'Version number serving as champion', ['model']);

/** What a model reads besides the indicators: nothing, or the coin's news sentiment. */
export type ModelInputs = 'indicators' | 'indicators+sentiment';

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

  /** Loads what is champion now, then keeps following the alias. */
  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => {
      this.polling ??= this.poll().finally(() => {
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

  /** One pass over every model: swap where the alias moved. Exposed for tests. */
  async poll(): Promise<void> {
    const retiring = this.retired;
    this.retired = [];
    for (const champion of retiring) await champion.onnx.close();
    for (const pair of this.options.pairs) {
      for (const horizon of this.options.horizons) {
        const name = modelName(pair, horizon);
        try {
          await this.refresh(name);
        } catch (error) {
          loadFailures.inc({ model: name });
          this.logger.error({ err: error, model: name }, 'could not load the champion; keeping the one in use');
        }
      }
    }
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
  throw new Error(`the model's inputs ${names} are not a feature list the predictor builds`);
}
