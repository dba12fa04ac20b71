/**
 * Custom scalars of the GraphQL contract. The subgraphs resolve with them, and the gateway
 * puts the same input rules on its API schema, so a malformed value is the client's
 * BAD_USER_INPUT at the edge instead of a failed subgraph fetch.
 */
import { GraphQLError, GraphQLScalarType, Kind, type GraphQLSchema } from 'graphql';

/** ISO-8601 with date, time and an explicit offset (no local times). */
const ISO_8601 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,3})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

const badUserInput = (message: string): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

/** The client's value in an error message, cut short: an error must not echo a megabyte back. */
const shown = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
};

function parseDateTime(value: unknown): string {
  const ms = typeof value === 'string' && ISO_8601.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw badUserInput(`DateTime must be ISO-8601 with an offset, e.g. 2023-04-04T00:00:00.000Z; got ${shown(value)}`);
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

const INPUT_RULES: readonly GraphQLScalarType[] = [DateTime];

/**
 * Gives a schema built from SDL (the gateway's API schema, whose custom scalars accept
 * anything) the contract's input rules. Output serialization is left alone: the gateway
 * passes on what subgraphs resolved.
 */
export function applyScalarInputRules(schema: GraphQLSchema): void {
  for (const rules of INPUT_RULES) {
    const type = schema.getType(rules.name);
    if (!(type instanceof GraphQLScalarType)) continue;
    type.parseValue = rules.parseValue;
    type.parseLiteral = rules.parseLiteral;
  }
}
