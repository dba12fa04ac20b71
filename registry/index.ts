/**
 * The registry a process uses: MLflow when a tracking URI is configured, else the local
 * directory under the data dir (the embedded default).
 */
import { join } from 'node:path';
import { LocalRegistry } from './local.ts';
import { MlflowRegistry, type MlflowRegistryOptions } from './mlflow.ts';
import type { ModelRegistry } from './registry.ts';

export * from './registry.ts';
export { LocalRegistry } from './local.ts';
export { MlflowRegistry, type MlflowRegistryOptions } from './mlflow.ts';

export function openRegistry(options: {
  /** e.g. http://127.0.0.1:5000; unset or empty selects the local registry. */
  readonly mlflowTrackingUri?: string | undefined;
  /** TICKCAST_DATA_DIR: the local registry lives in <dataDir>/registry. */
  readonly dataDir: string;
  readonly mlflow?: Omit<MlflowRegistryOptions, 'trackingUri'>;
}): ModelRegistry {
  if (options.mlflowTrackingUri) {
    return new MlflowRegistry({ ...options.mlflow, trackingUri: options.mlflowTrackingUri });
  }
  return new LocalRegistry(join(options.dataDir, 'registry'));
}
