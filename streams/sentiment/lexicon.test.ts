import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lexiconHits, LexiconScorer, scoreOf, scoreText, sentencesAbout } from './lexicon.ts';

const article = (title: string, text = '') => ({ title, text, contentHash: '0'.repeat(64) });

describe('lexicon scorer', () => {
  it('scores crypto wording, phrases first', () => {
    assert.deepEqual(
      lexiconHits('BTC hits all-time high as ETF approval nears').map((h) => h.term),
      ['all-time high', 'approval'],
    );
    assert.equal(scoreText('Bitcoin surges to a record', 'BTC').label, 'BULLISH');
    assert.equal(scoreText('Exchange hacked, funds stolen', null).label, 'BEARISH');
    assert.equal(scoreText('Conference schedule announced', null).label, 'NEUTRAL');
  });

  it('flips a negated word', () => {
    assert.deepEqual(
      lexiconHits('SEC does not approve the ETF').map((h) => [h.term, h.weight]),
      [['not approve', -2]],
    );
    assert.equal(scoreText("Bitcoin won't crash, analysts say", 'BTC').label, 'BULLISH');
  });

  it('squashes the sum of weights into (-1, 1)', () => {
    assert.equal(scoreOf([]), 0);
    assert.equal(scoreOf([{ term: 'a', weight: 2 }]), 0.5);
    assert.ok(scoreOf(Array.from({ length: 50 }, () => ({ term: 'x', weight: -2 }))) > -1);
  });

  it('scores each coin on the sentences that mention it', async () => {
    const text = 'Bitcoin rallied to a record. LUNA collapsed and UST depegged.';
    assert.equal(sentencesAbout(article('Markets', text), 'BTC'), 'Bitcoin rallied to a record.');
    const { scores, scorer, promptVersion } = await new LexiconScorer().score(article('Markets', text), [
      'BTC',
      'LUNA',
    ]);
    assert.equal(scorer, 'lexicon:v1');
    assert.equal(promptVersion, null);
    assert.deepEqual(
      scores.map((s) => [s.coin, s.label]),
      [
        ['BTC', 'BULLISH'],
        ['LUNA', 'BEARISH'],
      ],
    );
    for (const s of scores) {
      assert.ok(s.confidence > 0 && s.confidence <= 1);
      assert.match(s.reason, /^Lexicon words about (BTC|LUNA): .+\.$/);
    }
  });
});
