/**
 * Agreement between two labelings of the same items: accuracy, the confusion matrix,
 * Cohen's kappa (agreement beyond what the two label distributions give by chance) and
 * each side's distribution. Used by `tickcast sentiment eval` to compare the offline
 * scorer with the headline dataset's own (TextBlob) labels; agreement is not correctness,
 * since neither side is ground truth.
 */
export const CLASSES = ['positive', 'neutral', 'negative'] as const;
export type SentimentClass = (typeof CLASSES)[number];

export interface Agreement {
  readonly n: number;
  readonly accuracy: number;
  readonly kappa: number;
  /** matrix[reference][predicted], in CLASSES order. */
  readonly matrix: readonly (readonly number[])[];
  readonly reference: Readonly<Record<SentimentClass, number>>;
  readonly predicted: Readonly<Record<SentimentClass, number>>;
}

export function agreement(pairs: readonly { reference: SentimentClass; predicted: SentimentClass }[]): Agreement {
  const index = (c: SentimentClass): number => CLASSES.indexOf(c);
  const matrix = CLASSES.map(() => CLASSES.map(() => 0));
  for (const { reference, predicted } of pairs) matrix[index(reference)]![index(predicted)]! += 1;
  const n = pairs.length;
  const rowSums = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const colSums = CLASSES.map((_, j) => matrix.reduce((sum, row) => sum + row[j]!, 0));
  const observed = n === 0 ? 0 : CLASSES.reduce((sum, _, i) => sum + matrix[i]![i]!, 0) / n;
  const expected = n === 0 ? 0 : CLASSES.reduce((sum, _, i) => sum + rowSums[i]! * colSums[i]!, 0) / (n * n);
  const count = (sums: number[]): Record<SentimentClass, number> =>
    Object.fromEntries(CLASSES.map((c, i) => [c, sums[i]!])) as Record<SentimentClass, number>;
  return {
    n,
    accuracy: observed,
    kappa: expected === 1 ? 0 : (observed - expected) / (1 - expected),
    matrix,
    reference: count(rowSums),
    predicted: count(colSums),
  };
}

const pct = (x: number, n: number): string => `${((100 * x) / Math.max(1, n)).toFixed(1)}%`;

/** A plain-text report: accuracy, kappa, confusion matrix and both distributions. */
export function formatAgreement(title: string, a: Agreement, referenceName: string, predictedName: string): string {
  const pad = (s: string, w = 12): string => s.padStart(w);
  const lines = [
    title,
    `  n = ${a.n}   accuracy = ${(100 * a.accuracy).toFixed(1)}%   Cohen's kappa = ${a.kappa.toFixed(3)}`,
    `  confusion matrix (rows: ${referenceName}, columns: ${predictedName})`,
    `  ${pad('')}${CLASSES.map((c) => pad(c)).join('')}`,
    ...CLASSES.map((c, i) => `  ${pad(c)}${a.matrix[i]!.map((x) => pad(String(x))).join('')}`),
    `  label distribution   ${referenceName}: ${CLASSES.map((c) => `${c} ${a.reference[c]} (${pct(a.reference[c], a.n)})`).join(', ')}`,
    `                       ${predictedName}: ${CLASSES.map((c) => `${c} ${a.predicted[c]} (${pct(a.predicted[c], a.n)})`).join(', ')}`,
  ];
  return lines.join('\n');
}
