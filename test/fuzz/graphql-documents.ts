/**
 * Generators of GraphQL requests for the gateway fuzz test: operations of the real supergraph
 * (schema/supergraph.graphql), mutated (unknown fields, aliases, fragments, deep nesting,
 * introspection, wrong operation names, malformed DateTime and other bad scalars, huge
 * variables, subscriptions where only queries go, APQ with wrong hashes), and hostile headers.
 */
import fc from 'fast-check';
import { hostileText } from './support.ts';

export interface GraphQLRequest {
  readonly query?: string | undefined;
  readonly operationName?: unknown;
  readonly variables?: unknown;
  readonly extensions?: unknown;
}

const CANDLE = 'openTime close volume flat final';

/** Valid operations of the supergraph, each with variables it accepts. */
const VALID: readonly GraphQLRequest[] = [
  { query: '{ markets { pair base quote } }' },
  {
    query: 'query M($pair: ID!) { market(pair: $pair) { pair lastTrade { price time } ticker { last asOf } } }',
    variables: { pair: 'BTC/USD' },
  },
  {
    query: `query C($pair: ID!, $from: DateTime) { market(pair: $pair) { candles(from: $from, first: 5) { edges { cursor node { ${CANDLE} } } pageInfo { hasNextPage } } } }`,
    variables: { pair: 'BTC/USD', from: '2023-04-04T00:00:00Z' },
  },
  {
    query:
      '{ market(pair: "BTC/USD") { latestFeatures { openTime values { name value } } sentiment(window: H1) { __typename } } }',
  },
  { query: '{ models { name champion { version metrics { mae } } } }' },
  {
    query: 'query P($id: ID!) { prediction(id: $id) { id madeAt market { pair } modelVersion { version } } }',
    variables: { id: 'p-1' },
  },
  { query: '{ newsArticles(first: 3) { id title publishedAt signals { __typename } } }' },
  { query: '{ modelPerformance { __typename } }' },
  { query: 'query A { markets { pair } } query B { models { name } }', operationName: 'B' },
];

const SUBSCRIPTIONS: readonly string[] = [
  'subscription { predictionCreated { id predictedPrice } }',
  'subscription S($pair: ID!) { tradeExecuted(pair: $pair) { price } }',
  'subscription { candleUpdated(pair: "BTC/USD") { close } }',
];

const fieldName = fc.oneof(
  fc.stringMatching(/^[_A-Za-z][_0-9A-Za-z]{0,12}$/),
  fc.constantFrom(
    '__typename',
    '__schema',
    '__type',
    'pair',
    'market',
    'predictions',
    'toString',
    'constructor',
    '__proto__',
  ),
  // Near misses: graphql-js answers these with "Did you mean ...?", which must not reach clients.
  fc.constantFrom('pai', 'bas', 'quot', 'predictins', 'lastTrad', 'tickr'),
);

/** Deep nesting through the graph's cycles: Market.predictions → Prediction.market → ... */
const deep = fc
  .integer({ min: 2, max: 60 })
  .map((n) => `{ market(pair: "BTC/USD") { ${'predictions { market { '.repeat(n)}pair${' } }'.repeat(n)} } }`);

const aliases = fc
  .integer({ min: 1, max: 200 })
  .map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: markets { pair }`).join(' ')} }`);

const fragments = fc.constantFrom(
  '{ markets { ...F } } fragment F on Market { pair ...G } fragment G on Market { base }',
  '{ markets { ...F } } fragment F on Market { ...F }',
  '{ markets { ...Missing } }',
  '{ markets { ... on Prediction { id } } }',
  '{ markets { ...F } } fragment F on Nope { pair }',
);

const introspection = fc.constantFrom(
  '{ __schema { types { name } } }',
  '{ __type(name: "Market") { fields { name } } }',
  '{ __typename }',
  'query { __schema { queryType { name } mutationType { fields { name args { name } } } } }',
);

/** DateTime values the scalar must refuse as a client error (never a subgraph error). */
export const badDateTime = fc.oneof(
  fc.constantFrom(
    '2023-13-45T00:00:00Z',
    '',
    'now',
    '2023-04-04',
    '1680566400',
    '+275760-09-13T00:00:00.000Z',
    '2023-02-30T00:00:00Z',
  ),
  fc.integer(),
  fc.double(),
  fc.constant(null),
  fc.constant({}),
  hostileText,
);

const badVariables = fc.oneof(
  badDateTime.map((from) => ({ pair: 'BTC/USD', from })),
  fc.anything({ maxDepth: 3 }),
  fc.integer({ min: 10_000, max: 90_000 }).map((n) => ({ pair: 'x'.repeat(n) })),
  fc.integer({ min: 100, max: 5_000 }).map((n) => ({ pair: Array.from({ length: n }, (_, i) => i) })),
);

/** A request that uses the gateway as documented or abuses it in one of many ways. */
export const graphqlRequest: fc.Arbitrary<GraphQLRequest> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALID) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...VALID), fieldName, fc.boolean()).map(([op, field, alias]) => ({
      ...op,
      query: op.query?.replace('pair', alias ? `x: ${field} pair` : `${field} pair`),
    })),
  },
  { weight: 1, arbitrary: deep.map((query) => ({ query })) },
  { weight: 1, arbitrary: aliases.map((query) => ({ query })) },
  { weight: 1, arbitrary: fragments.map((query) => ({ query })) },
  { weight: 1, arbitrary: introspection.map((query) => ({ query })) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(VALID[2]!), badVariables).map(([op, variables]) => ({ ...op, variables })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...VALID), fc.oneof(hostileText, fc.constant(null), fc.integer(), fc.constant('Missing')))
      .map(([op, operationName]) => ({ ...op, operationName })),
  },
  { weight: 1, arbitrary: fc.constant({ query: 'query A { markets { pair } } query B { models { name } }' }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...SUBSCRIPTIONS).map((query) => ({ query, variables: { pair: 'BTC/USD' } })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.boolean(),
        fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), hostileText, fc.integer()),
        fc.constantFrom(1, 2, '1', null),
      )
      .map(([withQuery, sha256Hash, version]) => ({
        ...(withQuery ? { query: '{ markets { pair } }' } : {}),
        extensions: { persistedQuery: { version, sha256Hash } },
      })),
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      query: 'mutation { setModelAlias(modelName: "m", alias: "champion", version: "1") { version } }',
    }),
  },
  { weight: 2, arbitrary: hostileText.map((query) => ({ query })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...VALID), fc.double({ min: 0, max: 1, maxExcluded: true }))
      .map(([op, cut]) => ({ ...op, query: op.query?.slice(0, Math.floor(cut * (op.query?.length ?? 0))) })),
  },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }).map((junk) => junk as GraphQLRequest) },
);

/** Visible ASCII only: what fetch() lets a client put in a header. */
const headerValue = fc.stringMatching(/^[\x21-\x7e]{0,60}$/);

export interface HeaderSpec {
  readonly contentType: string | null;
  readonly auth: 'key' | 'none' | 'wrong-key' | 'bearer-garbage' | 'both';
  readonly extra: Readonly<Record<string, string>>;
}

export const headerSpec: fc.Arbitrary<HeaderSpec> = fc.record({
  contentType: fc.oneof(
    { weight: 6, arbitrary: fc.constant('application/json') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        null,
        'text/plain',
        'application/graphql-response+json',
        'application/json; charset=utf-16',
        'multipart/form-data; boundary=x',
        'application/x-www-form-urlencoded',
        'application/graphql',
      ),
    },
    { weight: 1, arbitrary: headerValue },
  ),
  auth: fc.oneof(
    { weight: 6, arbitrary: fc.constant('key' as const) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('none' as const, 'wrong-key' as const, 'bearer-garbage' as const, 'both' as const),
    },
  ),
  extra: fc.dictionary(
    fc.oneof(
      fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
      fc.constantFrom('apollo-require-preflight', 'accept', 'origin', 'x-forwarded-for', 'cookie'),
    ),
    headerValue,
    { maxKeys: 3 },
  ),
});
