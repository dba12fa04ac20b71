/**
 * The candidates evaluate.ts compares, each as "choose hyperparameters by expanding-window
 * CV on the TRAIN rows, then fit once on all of them". Order matters: on a tie in
 * validation MAE the earlier (simpler) candidate wins.
 */
import type { TrainedModel } from '../model-types.ts';
import type { Fold } from '../splits.ts';
import type { TrainingSet } from './common.ts';
import { fitPersistence } from './persistence.ts';
import { DEFAULT_LAMBDAS, fitRidge, tuneRidge } from './ridge.ts';
import { DEFAULT_TREE_DEPTHS, fitTrees, tuneTrees, type TreeObjective } from './trees.ts';

export type CandidateName =
  'persistence' | 'ridge' | 'trees' | 'median-trees' | 'ridge+partner' | 'median-trees+partner';

export interface CandidateFit {
  readonly name: CandidateName;
  readonly model: TrainedModel;
  /** The chosen hyperparameters. */
  readonly hyperparameters: Readonly<Record<string, number>>;
  /** Mean CV MAE (log return) at the chosen hyperparameters; null when nothing is tuned. */
  readonly cvMae: number | null;
  readonly seconds: number;
}

export interface CandidateSettings {
  readonly lambdas?: readonly number[];
  readonly treeDepths?: readonly number[];
  readonly treeMaxRounds?: number;
  readonly treeLearningRate?: number;
  readonly treeMinLeaf?: number;
}

export interface Candidate {
  readonly name: CandidateName;
  fit(set: TrainingSet, folds: readonly Fold[], settings: CandidateSettings, log: (line: string) => void): CandidateFit;
}

const seconds = (start: number): number => (performance.now() - start) / 1000;

export const CANDIDATES: readonly Candidate[] = [
  {
    name: 'persistence',
    fit(set) {
      return {
        name: 'persistence',
        model: fitPersistence(set.featureNames),
        hyperparameters: {},
        cvMae: null,
        seconds: 0,
      };
    },
  },
  ridgeCandidate('ridge'),
  treeCandidate('trees', 'squared'),
  treeCandidate('median-trees', 'absolute'),
];

/**
 * The candidates that also read the partner pair's returns (cross-asset.ts), fitted on every
 * feature of a dataset built with them; the others see only the pair's own features.
 */
export const CROSS_ASSET_CANDIDATES: readonly Candidate[] = [
  ridgeCandidate('ridge+partner'),
  treeCandidate('median-trees+partner', 'absolute'),
];

/** Ridge regression; CV picks lambda. */
function ridgeCandidate(name: CandidateName): Candidate {
  return {
    name,
    fit(set, folds, settings, log) {
      const start = performance.now();
      const tuning = tuneRidge(set, folds, settings.lambdas ?? DEFAULT_LAMBDAS);
      const model = fitRidge(set, { lambda: tuning.lambda });
      const s = seconds(start);
      log(`${name}: CV chose lambda=${tuning.lambda} (${s.toFixed(1)}s)`);
      return {
        name,
        model,
        hyperparameters: { lambda: tuning.lambda },
        cvMae: cvOf(tuning.scores, tuning.lambda),
        seconds: s,
      };
    },
  };
}

function cvOf(scores: readonly { lambda: number; cvMae: number }[], lambda: number): number | null {
  return scores.find((s) => s.lambda === lambda)?.cvMae ?? null;
}

/** Boosted trees with one loss; CV picks depth and rounds (trees.ts). */
function treeCandidate(name: CandidateName, objective: TreeObjective): Candidate {
  return {
    name,
    fit(set, folds, settings, log) {
      const start = performance.now();
      const learningRate = settings.treeLearningRate ?? 0.05;
      const minLeaf = settings.treeMinLeaf ?? 200;
      const depths = settings.treeDepths ?? DEFAULT_TREE_DEPTHS;
      const tuning = tuneTrees(set, folds, {
        depths,
        maxRounds: settings.treeMaxRounds ?? 300,
        learningRate,
        minLeaf,
        objective,
        onFit: (depth, fold) =>
          log(`${name}: CV depth ${depth} fold ${fold + 1}/${folds.length} (${seconds(start).toFixed(1)}s)`),
      });
      const model = fitTrees(set, {
        rounds: tuning.rounds,
        maxDepth: tuning.maxDepth,
        learningRate,
        minLeaf,
        objective,
      });
      const s = seconds(start);
      log(`${name}: CV chose depth=${tuning.maxDepth} rounds=${tuning.rounds} (${s.toFixed(1)}s)`);
      return {
        name,
        model,
        hyperparameters: { maxDepth: tuning.maxDepth, rounds: tuning.rounds, learningRate, minLeaf },
        cvMae: tuning.cvMae,
        seconds: s,
      };
    },
  };
}
