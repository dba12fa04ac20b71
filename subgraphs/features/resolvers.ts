/** Resolvers of the features subgraph (schema/graphql/features.graphql). */
import type { IndicatorSet as BusIndicatorSet } from '../../schema/events.ts';
import { INDICATOR_NAMES, type IndicatorName, type IndicatorValues } from '../../schema/indicators.ts';
import { TOPICS } from '../../schema/topics.ts';
import { checkCount, checkInterval, DateTime, fromDateTime, toDateTime } from '../inputs.ts';
import type { IndicatorName as IndicatorNameEnum, IndicatorSet, Resolvers } from './generated/resolvers.ts';
import { loaders } from './loaders.ts';
import type { IndicatorRow } from './store.ts';

const DEFAULT_LAST = 100;

// The SDL's IndicatorName enum and schema/indicators.ts must name the same indicators:
// this fails to compile when either gains or loses one.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameIndicatorNames: Same<IndicatorName, IndicatorNameEnum> = true;

const indicatorSet = (row: IndicatorRow): IndicatorSet => ({
  pair: row.pair,
  interval: row.interval,
  openTime: toDateTime(row.openTime),
  close: row.close,
  values: INDICATOR_NAMES.map((name) => ({ name, value: row.values[name] })),
});

/** A bus indicator set in the shape of a stored row: every indicator named, missing ones null. */
const rowFromEvent = (event: BusIndicatorSet): IndicatorRow => ({
  pair: event.pair,
  interval: event.interval,
  openTime: event.openTime,
  close: event.close,
  values: Object.fromEntries(INDICATOR_NAMES.map((name) => [name, event.values[name] ?? null])) as IndicatorValues,
});

export const resolvers: Resolvers = {
  DateTime,
  Subscription: {
    indicatorsUpdated: {
      subscribe: (_parent, args, context) => {
        const interval = checkInterval(args.interval);
        return context.live.subscribe(
          [TOPICS.indicators],
          (event) => event.pair === args.pair && event.interval === interval,
        );
      },
      resolve: (event: BusIndicatorSet) => indicatorSet(rowFromEvent(event)),
    },
  },
  Market: {
    // This subgraph only adds fields to markets; whether a pair is a market is the markets subgraph's call.
    __resolveReference: (reference) => reference,
    indicators: async (market, args, context) => {
      const key = {
        pair: market.pair,
        interval: checkInterval(args.interval),
        from: fromDateTime(args.from),
        to: fromDateTime(args.to),
        last: checkCount('last', args.last, DEFAULT_LAST),
      };
      return (await loaders(context).indicators.load(key)).map(indicatorSet);
    },
    latestFeatures: async (market, args, context) => {
      const row = await loaders(context).latest.load({ pair: market.pair, interval: checkInterval(args.interval) });
      return row && indicatorSet(row);
    },
  },
  IndicatorSet: {
    value: (set, { name }) => set.values.find((v) => v.name === name)?.value ?? null,
  },
};
