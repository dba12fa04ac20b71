import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { agreement, formatAgreement } from './agreement.ts';

describe('agreement', () => {
  it('computes accuracy, the confusion matrix, kappa and both distributions', () => {
    const a = agreement([
      { reference: 'positive', predicted: 'positive' },
      { reference: 'positive', predicted: 'neutral' },
      { reference: 'negative', predicted: 'negative' },
      { reference: 'neutral', predicted: 'neutral' },
    ]);
    assert.equal(a.n, 4);
    assert.equal(a.accuracy, 0.75);
    assert.deepEqual(a.matrix, [
      [1, 1, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    // p_e = (2*1 + 1*2 + 1*1) / 16 = 5/16; kappa = (0.75 - 0.3125) / (1 - 0.3125)
    assert.equal(a.kappa, (0.75 - 5 / 16) / (11 / 16));
    assert.deepEqual(a.reference, { positive: 2, neutral: 1, negative: 1 });
    assert.deepEqual(a.predicted, { positive: 1, neutral: 2, negative: 1 });
    assert.match(formatAgreement('t', a, 'dataset', 'lexicon'), /accuracy = 75\.0%/);
  });

  it('gives kappa 0 for agreement no better than chance', () => {
    const a = agreement([
      { reference: 'positive', predicted: 'positive' },
      { reference: 'positive', predicted: 'negative' },
      { reference: 'negative', predicted: 'positive' },
      { reference: 'negative', predicted: 'negative' },
    ]);
    assert.equal(a.kappa, 0);
  });
});
