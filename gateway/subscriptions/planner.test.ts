import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ServiceMap } from '@apollo/gateway';
import { parse } from 'graphql';
import pino from 'pino';
import { SUPERGRAPH_PATH } from '../../schema/subgraphs.ts';
import { NotASubscription, SubscriptionPlanner } from './planner.ts';

/** Subgraph data sources that record the entity fetches and answer them from a table. */
function fakeServices(answers: Record<string, unknown>) {
  const fetches: { subgraph: string; query: string; variables: unknown }[] = [];
  const services: ServiceMap = Object.fromEntries(
    Object.entries(answers).map(([subgraph, entity]) => [
      subgraph,
      {
        process: async (options: { request: { query?: string; variables?: unknown } }) => {
          fetches.push({ subgraph, query: options.request.query ?? '', variables: options.request.variables });
          return { data: { _entities: [entity] } };
        },
      },
    ]),
  ) as unknown as ServiceMap;
  return { services, fetches };
}

/** executeQueryPlan builds null-prototype objects; compare their JSON. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const supergraph = readFileSync(SUPERGRAPH_PATH, 'utf8');
const logger = pino({ level: 'silent' });
const OPERATION = parse(`subscription Live($pair: ID) {
  predictionCreated(pair: $pair) {
    id
    mine: predictedPrice
    market { pair lastTrade { price } }
    modelVersion { version metrics { mae } }
  }
}`);

test('the primary fetch goes to the owning subgraph with the variables it uses', () => {
  const planner = new SubscriptionPlanner(supergraph, fakeServices({}).services, logger);
  const plan = planner.plan(OPERATION, undefined, { pair: 'BTC/USD', unused: 1 });
  assert.equal(plan.upstream.subgraph, 'predictions');
  assert.match(plan.upstream.query, /^subscription .*predictionCreated\(pair:\$pair\)/);
  assert.match(plan.upstream.query, /market\{__typename pair\}/, 'asks for the Market key');
  assert.deepEqual(plan.upstream.variables, { pair: 'BTC/USD' });
  assert.equal(plan.federated, true);
});

test('each event is completed with the entity fields other subgraphs own, in the client shape', async () => {
  const { services, fetches } = fakeServices({
    markets: { lastTrade: { price: 28_000.5 } },
    models: { metrics: { mae: 9.9 } },
  });
  const planner = new SubscriptionPlanner(supergraph, services, logger);
  const plan = planner.plan(OPERATION, undefined, { pair: 'BTC/USD' });
  const result = await plan.resolve(
    {
      data: {
        predictionCreated: {
          __typename: 'Prediction',
          id: 'BTC/USD|1m|x',
          mine: 28_001,
          market: { __typename: 'Market', pair: 'BTC/USD' },
          modelVersion: { __typename: 'ModelVersion', modelName: 'tickcast-btc-usd-1m', version: '3' },
        },
      },
    },
    {},
  );
  assert.equal(result.errors, undefined);
  assert.deepEqual(plain(result.data), {
    predictionCreated: {
      id: 'BTC/USD|1m|x',
      mine: 28_001,
      market: { pair: 'BTC/USD', lastTrade: { price: 28_000.5 } },
      modelVersion: { version: '3', metrics: { mae: 9.9 } },
    },
  });
  assert.deepEqual(fetches.map((f) => f.subgraph).sort(), ['markets', 'models']);
  assert.deepEqual(plain(fetches.find((f) => f.subgraph === 'models')?.variables), {
    representations: [{ __typename: 'ModelVersion', modelName: 'tickcast-btc-usd-1m', version: '3' }],
  });
});

test('a subscription that stays in one subgraph fetches nothing more per event', async () => {
  const { services, fetches } = fakeServices({ markets: {} });
  const planner = new SubscriptionPlanner(supergraph, services, logger);
  const plan = planner.plan(parse('subscription { candleUpdated(pair: "BTC/USD") { close final } }'), undefined, {});
  assert.equal(plan.upstream.subgraph, 'markets');
  assert.equal(plan.federated, false);
  const result = await plan.resolve({ data: { candleUpdated: { close: 1, final: false } } }, {});
  assert.deepEqual(plain(result.data), { candleUpdated: { close: 1, final: false } });
  assert.equal(fetches.length, 0);
});

test('errors in the streamed event reach the client', async () => {
  const planner = new SubscriptionPlanner(supergraph, fakeServices({}).services, logger);
  const plan = planner.plan(parse('subscription { modelAlert { factor } }'), undefined, {});
  const result = await plan.resolve({ errors: [{ message: 'boom', extensions: { code: 'X' } }] }, {});
  assert.equal(result.errors?.[0]?.message, 'boom');
});

test('a query is not a subscription plan', () => {
  const planner = new SubscriptionPlanner(supergraph, fakeServices({}).services, logger);
  assert.throws(() => planner.plan(parse('{ markets { pair } }'), undefined, {}), NotASubscription);
});
