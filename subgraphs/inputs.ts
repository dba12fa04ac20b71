/**
 * The DateTime scalar, argument checks and error constructors every subgraph shares.
 * Errors with a code (BAD_USER_INPUT, NOT_FOUND, FORBIDDEN) are the caller's to see:
 * server.ts passes them through.
 */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { intervalSchema } from '../schema/events.ts';

export const badUserInput = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

export const notFound = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'NOT_FOUND' } });

export const forbidden = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'FORBIDDEN' } });

/** ISO-8601 with date, time and an explicit offset (no local times). */
const ISO_8601 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,3})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

function parseDateTime(value: unknown): string {
  const ms = typeof value === 'string' && ISO_8601.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw badUserInput(
      `DateTime must be ISO-8601 with an offset, e.g. 2023-04-04T00:00:00.000Z; got ${JSON.stringify(value)}`,
    );
  }
  return new Date(ms).toISOString();
}

/** Resolvers produce `new Date(ms).toISOString()`; inputs are normalised to the same form. */
export const DateTime = new GraphQLScalarType<string, string>({
  name: 'DateTime',
  description: 'An instant, ISO-8601 in UTC, e.g. 2023-04-04T00:00:00.000Z.',
  serialize: (value) => {
    if (typeof value !== 'string') throw new GraphQLError(`DateTime cannot represent ${typeof value}`);
    return parseDateTime(value);
  },
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badUserInput('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

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
