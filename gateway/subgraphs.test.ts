import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'graphql';
import { missingPath } from './subgraphs.ts';

const ENTITIES =
  'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Market { __typename lastTrade { price } } } }';

describe('missingPath: where a failed fetch leaves fields missing', () => {
  it('is the entity path plus the field when the fetch asked for one field', () => {
    assert.deepEqual(missingPath(['predictionCreated', 'market'], parse(ENTITIES)), [
      'predictionCreated',
      'market',
      'lastTrade',
    ]);
  });

  it('is the entity path when the fetch asked for several fields (aliases as the client named them)', () => {
    const document = parse(
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Market { trade: lastTrade { price } sentiment { count } } } }',
    );
    assert.deepEqual(missingPath(['market'], document), ['market']);
  });

  it('stops before a list: every element is missing alike', () => {
    assert.deepEqual(missingPath(['markets', '@', 'model'], parse(ENTITIES)), ['markets']);
  });

  it('is undefined for a root fetch or entities at the root of a list', () => {
    assert.equal(missingPath([], parse(ENTITIES)), undefined);
    assert.equal(missingPath(undefined, undefined), undefined);
    assert.equal(missingPath(['@'], parse(ENTITIES)), undefined);
  });
});
