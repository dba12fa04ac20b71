/**
 * The DateTime scalar and the errors of the models subgraph. Errors with a code
 * (BAD_USER_INPUT, NOT_FOUND, FORBIDDEN) are the caller's to see; server.ts passes them through.
 */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

export const badUserInput = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

export const notFound = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'NOT_FOUND' } });

export const forbidden = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'FORBIDDEN' } });

/** ISO-8601 with date, time and an explicit offset. */
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

/** Resolvers produce `Date.toISOString()`; inputs are normalised to the same form. */
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
