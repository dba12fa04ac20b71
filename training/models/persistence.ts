/**
 * The baseline: the close h minutes ahead equals the close now (predicted log return 0).
 * Nothing to fit; it takes the feature names only so that it checks its input like the others.
 */
import type { PersistenceModel } from '../model-types.ts';

export function fitPersistence(featureNames: readonly string[]): PersistenceModel {
  return { kind: 'persistence', featureNames: [...featureNames] };
}
