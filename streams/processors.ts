/** The stream processors `tickcast stream` runs (runtime.ts), in a module of its own so the CLI lists them without loading them. */
export const PROCESSORS = [
  'candles',
  'indicators',
  'store-writer',
  'predictor',
  'monitor',
  'predictions-writer',
  'sentiment-extractor',
  'sentiment-features',
  'sentiment-writer',
] as const;
export type ProcessorName = (typeof PROCESSORS)[number];
