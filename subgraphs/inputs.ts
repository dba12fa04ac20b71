/**
 * The DateTime scalar (schema/scalars.ts), argument checks and error constructors every subgraph shares.
 * Errors with a code (BAD_USER_INPUT, NOT_FOUND, FORBIDDEN) are the caller's to see:
 * server.ts passes them through.
 */
import { GraphQLError } from 'graphql';
import { intervalSchema } from '../schema/events.ts';

export const badUserInput = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

export const notFound = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'NOT_FOUND' } });

export const forbidden = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'FORBIDDEN' } });

export { DateTime } from '../schema/scalars.ts';

export const toDateTime = (ms: number): string => new Date(ms).toISOString();

/** Epoch ms of a DateTime argument (already validated by the scalar), or null. */
export const fromDateTime = (value: string | null | undefined): number | null =>
  value === null || value === undefined ? null : Date.parse(value);

/** Intervals look like 1m, 15m, 1h, 1d: schema/events.ts' rule, which every stored candle and set follows. */
export function checkInterval(interval: string): string {
  if (!intervalSchema.safeParse(interval).success) {
    throw badUserInput(`interval must look like 1m, 5m, 1h or 1d; got ${JSON.stringify(interval)}`);
  }
  return interval;
}

/** No list returns more than this many items, whatever the argument asks for. */
export const MAX_LIST = 1000;

/**
 * A list length argument (`first`, `last`): null means the default, negative is refused,
 * anything above MAX_LIST is capped.
 */
export function checkCount(name: string, value: number | null | undefined, fallback: number): number {
  if (value === null || value === undefined) return fallback;
  if (value < 0) throw badUserInput(`${name} must be zero or more; got ${value}`);
  return Math.min(value, MAX_LIST);
}
