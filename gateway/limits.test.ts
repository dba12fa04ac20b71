import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildSchema, getIntrospectionQuery, getOperationAST, GraphQLError, parse, validate } from 'graphql';
import { API_SCHEMA_PATH } from '../schema/subgraphs.ts';
import { checkLimits, MeasureCache, measureOperation } from './limits.ts';

const schema = buildSchema(readFileSync(API_SCHEMA_PATH, 'utf8'));
const limits = { maxDepth: 10, maxAliases: 30, maxCost: 5_000, defaultListSize: 10 };

function measure(query: string, variables?: Record<string, unknown>) {
  const document = parse(query);
  assert.deepEqual(validate(schema, document), [], 'test queries are valid against the API schema');
  const operation = getOperationAST(document);
  assert.ok(operation);
  return measureOperation(schema, document, operation, variables, limits.defaultListSize);
}

function rejection(query: string, variables?: Record<string, unknown>, overrides: Partial<typeof limits> = {}) {
  const document = parse(query);
  const operation = getOperationAST(document);
  assert.ok(operation);
  try {
    checkLimits(schema, document, operation, variables, { ...limits, ...overrides });
  } catch (error) {
    assert.ok(error instanceof GraphQLError);
    return {
      code: error.extensions['code'],
      message: error.message,
      status: (error.extensions['http'] as { status: number }).status,
    };
  }
  return undefined;
}

/** `newsArticles { signals { article { signals { ... } } } }`: 1 + 2 * levels deep. */
const sentimentChain = (levels: number) =>
  `{ newsArticles { ${'signals { article { '.repeat(levels)}id${' } }'.repeat(levels)} } }`;

describe('query measure', () => {
  it("measures the dashboard's MarketOverview query", () => {
    // market(1) + lastTrade(1) + candles(1 + first x (edge 1 + node 1) + pageInfo 1)
    // + latestFeatures(1) + sentiment(1) + latestPrediction(1 + modelVersion(1 + metrics 1))
    const query = readFileSync('test/operations/market-overview.graphql', 'utf8');
    const variables = { pair: 'BTC/USD', interval: '1m', first: 100, horizon: 5 };
    assert.deepEqual(measure(query, variables), { depth: 5, aliases: 1, cost: 9 + 2 * 100, introspectionListDepth: 0 });
    assert.equal(measure(query, { ...variables, first: 1_000 }).cost, 9 + 2 * 1_000, 'cost follows the variable');
  });

  it('counts depth along the longest chain, through fragments and inline fragments', () => {
    assert.equal(measure('{ markets { pair } }').depth, 2);
    assert.equal(measure(sentimentChain(3)).depth, 1 + 2 * 3 + 1);
    assert.equal(
      measure('{ markets { ...M } } fragment M on Market { ... on Market { lastTrade { price } } }').depth,
      3,
    );
  });

  it('sizes lists by a literal first, a variable, the schema default, or defaultListSize', () => {
    // trades(first: Int = 50) on each of `markets` (no size argument: defaultListSize 10)
    assert.equal(measure('{ markets { trades(first: 5) { price } } }').cost, 10 * (1 + 5));
    assert.equal(measure('query($n: Int) { markets { trades(first: $n) { price } } }', { n: 7 }).cost, 10 * (1 + 7));
    assert.equal(measure('query($n: Int = 3) { markets { trades(first: $n) { price } } }').cost, 10 * (1 + 3));
    assert.equal(measure('{ markets { trades { price } } }').cost, 10 * (1 + 50));
    assert.equal(measure('{ markets { indicators(last: 4) { close } } }').cost, 10 * (1 + 4), '`last` sizes too');
    assert.equal(measure('{ markets { pair base } }').cost, 10, 'scalars are free');
  });

  it('counts aliases with fragments expanded', () => {
    assert.equal(measure('{ a: markets { b: pair } c: markets { pair } }').aliases, 3);
    assert.equal(
      measure('{ markets { ...A ...A @include(if: true) } } fragment A on Market { x: pair y: base }').aliases,
      4,
    );
  });

  it('measures exponentially reused fragments in linear time', () => {
    // F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^40 aliases once expanded.
    const levels = 40;
    const fragments = Array.from({ length: levels }, (_, i) =>
      i === levels - 1
        ? `fragment F${i} on Market { a: pair }`
        : `fragment F${i} on Market { ...F${i + 1} ...F${i + 1} }`,
    );
    const started = performance.now();
    const result = measure(`{ markets { ...F0 } } ${fragments.join(' ')}`);
    assert.equal(result.aliases, 2 ** (levels - 1));
    assert.ok(performance.now() - started < 1_000, 'no expansion');
  });

  it('lets the standard introspection query through, but not nested introspection lists', () => {
    assert.equal(rejection(getIntrospectionQuery()), undefined);
    assert.equal(measure(getIntrospectionQuery()).introspectionListDepth, 3);
    const bomb = '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }';
    assert.equal(rejection(bomb)?.code, 'QUERY_TOO_DEEP');
  });

  it('prices introspection by the size of the schema: one __schema fits, many aliased ones do not', () => {
    const one = measure('{ __schema { types { name } } }').cost;
    assert.ok(one > 100, `a __schema costs what it can list (${one})`);
    assert.equal(measure(getIntrospectionQuery()).cost, one, 'the standard query costs one __schema');
    assert.ok(measure('{ __type(name: "Market") { fields { name } } }').cost > 10, '__type is priced too');
    const aliased = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `s${i}: __schema { types { name } }`).join(' ')} }`;
    const fits = Math.floor(limits.maxCost / one);
    assert.equal(rejection(aliased(fits)), undefined);
    assert.equal(rejection(aliased(fits + 1))?.code, 'QUERY_TOO_COSTLY');
    assert.equal(rejection(aliased(50), undefined, { maxAliases: 100 })?.code, 'QUERY_TOO_COSTLY');
  });
});

describe('checkLimits', () => {
  it('rejects a deep query with QUERY_TOO_DEEP and HTTP 400', () => {
    // Lists nested this deep are also far over the cost budget: lift it to see depth alone.
    assert.equal(rejection(sentimentChain(4), undefined, { maxCost: Infinity }), undefined, 'depth 10 is allowed');
    assert.equal(rejection(sentimentChain(4))?.code, 'QUERY_TOO_COSTLY', '20 x 10^4 x ... objects');
    assert.deepEqual(rejection(sentimentChain(5), undefined, { maxCost: Infinity }), {
      code: 'QUERY_TOO_DEEP',
      message: 'query depth 12 exceeds the limit of 10',
      status: 400,
    });
  });

  it('rejects an alias bomb with TOO_MANY_ALIASES', () => {
    const aliases = (n: number) => `{ markets { ${Array.from({ length: n }, (_, i) => `a${i}: pair`).join(' ')} } }`;
    assert.equal(rejection(aliases(30)), undefined);
    assert.equal(rejection(aliases(31))?.code, 'TOO_MANY_ALIASES');
  });

  it('rejects a costly query with QUERY_TOO_COSTLY, sized by variables', () => {
    const query = 'query($n: Int) { market(pair: "BTC/USD") { candles(first: $n) { edges { node { close } } } } }';
    // 1 (market) + 1 (candles) + n x (1 + 1)
    assert.equal(rejection(query, { n: 2_499 }), undefined, 'cost 5000');
    assert.equal(rejection(query, { n: 2_500 })?.code, 'QUERY_TOO_COSTLY', 'cost 5002');
  });
});

describe('MeasureCache', () => {
  const query =
    'query($n: Int, $pair: String!) { market(pair: $pair) { candles(first: $n) { edges { node { close } } } } }';
  const document = parse(query);
  const operation = getOperationAST(document)!;
  const checked = (cache: MeasureCache, variables: Record<string, unknown>, on = schema) =>
    checkLimits(on, document, operation, variables, limits, { cache, documentKey: 'hash-of-query\u0000' });

  it('measures a document asked again with the same list sizes once', () => {
    const cache = new MeasureCache(limits.defaultListSize);
    const first = checked(cache, { n: 10, pair: 'BTC/USD' });
    assert.equal(first.cost, 2 + 2 * 10);
    assert.equal(checked(cache, { n: 10, pair: 'BTC/USD' }), first, 'the same measure, not walked again');
    assert.equal(checked(cache, { n: 10, pair: 'ETH/USD' }), first, 'a variable that sizes nothing is not in the key');
  });

  it('measures again when a variable that sizes a list differs, and still rejects a cached costly measure', () => {
    const cache = new MeasureCache(limits.defaultListSize);
    assert.equal(checked(cache, { n: 10, pair: 'BTC/USD' }).cost, 22);
    assert.equal(checked(cache, { n: 20, pair: 'BTC/USD' }).cost, 42);
    for (let i = 0; i < 2; i += 1) {
      assert.throws(
        () => checked(cache, { n: 2_500, pair: 'BTC/USD' }),
        (error: GraphQLError) => error.extensions['code'] === 'QUERY_TOO_COSTLY',
      );
    }
  });

  it('keeps measures per schema', () => {
    const cache = new MeasureCache(limits.defaultListSize);
    // The same document against a schema whose candles default to 3 when $n is null.
    const other = buildSchema(
      readFileSync(API_SCHEMA_PATH, 'utf8').replace(/candles\(([^)]*)first: Int = \d+/, 'candles($1first: Int = 3'),
    );
    const variables = { n: null, pair: 'BTC/USD' };
    const here = checked(cache, variables).cost;
    assert.notEqual(checked(cache, variables, other).cost, here);
  });
});
