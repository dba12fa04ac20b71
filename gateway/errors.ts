/**
 * The gateway's client-facing errors, and masking at the edge: only deliberate errors
 * reach clients. Deliberate means a GraphQLError with an `extensions.code` from
 * `PUBLIC_CODES` (the gateway's own and Apollo Server's request errors), or an error a
 * subgraph raised on purpose (a code other than INTERNAL_SERVER_ERROR /
 * DOWNSTREAM_SERVICE_ERROR, with the subgraph's name). Everything else is logged and
 * replaced by a generic INTERNAL_SERVER_ERROR that keeps only the path.
 */
import { randomBytes } from 'node:crypto';
import { HeaderMap } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from '../lib/logger.ts';

/**
 * Codes the gateway raises itself, with the HTTP status of a response that carries only that
 * error (null: it accompanies partial data, the response stays 200).
 */
export const GATEWAY_ERROR_CODES = {
  UNAUTHENTICATED: { status: 401, reason: 'unauthenticated', summary: 'no credentials, or invalid ones' },
  FORBIDDEN: { status: 403, reason: 'forbidden', summary: 'the credentials lack the scope the operation needs' },
  AUTH_UNAVAILABLE: { status: 503, reason: 'auth_unavailable', summary: 'the JWKS endpoint could not be reached' },
  AUTH_THROTTLED: {
    status: 429,
    reason: 'auth_throttled',
    summary: 'too many failed authentication attempts from this address; retry after Retry-After',
  },
  RATE_LIMITED: { status: 429, reason: 'rate_limited', summary: "the key's token bucket is empty" },
  PAYLOAD_TOO_LARGE: { status: 413, reason: 'payload_too_large', summary: 'the request body exceeds the size limit' },
  QUERY_TOO_DEEP: { status: 400, reason: 'query_too_deep', summary: 'the operation nests fields too deeply' },
  TOO_MANY_ALIASES: { status: 400, reason: 'too_many_aliases', summary: 'the operation uses too many aliases' },
  QUERY_TOO_COSTLY: { status: 400, reason: 'query_too_costly', summary: 'the estimated cost exceeds the budget' },
  BAD_REQUEST: { status: 400, reason: 'bad_request', summary: 'the HTTP request is malformed' },
  BAD_USER_INPUT: { status: 400, reason: 'bad_user_input', summary: 'a variable or argument has an invalid value' },
  OPERATION_RESOLUTION_FAILURE: {
    status: 400,
    reason: 'operation_resolution_failure',
    summary: 'operationName is missing (several operations) or names no operation of the document',
  },
  PERSISTED_QUERY_HASH_MISMATCH: {
    status: 400,
    reason: 'persisted_query_hash_mismatch',
    summary: "the persisted query's sha256Hash is not the hash of the query sent with it",
  },
  TOO_MANY_CONNECTIONS: {
    status: 429,
    reason: 'too_many_connections',
    summary: 'the key already holds GATEWAY_WS_CONNECTIONS_PER_KEY open WebSocket connections (close code 4429)',
  },
  TOO_MANY_SUBSCRIPTIONS: {
    status: 429,
    reason: 'too_many_subscriptions',
    summary: 'the key already holds GATEWAY_SUBSCRIPTIONS_PER_KEY open subscriptions',
  },
  SUBGRAPH_UNAVAILABLE: { status: null, reason: 'subgraph_unavailable', summary: 'a subgraph timed out or failed' },
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERROR_CODES;

/** Apollo Server's own request errors: the client's mistake, safe to show. */
const APOLLO_REQUEST_CODES = [
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'INTROSPECTION_DISABLED',
  'MAX_RECURSIVE_SELECTIONS_EXCEEDED',
] as const;

/** Apollo's request errors counted as rejections too (every refused input shows in a metric). */
const APOLLO_REJECTION_REASONS: Readonly<Record<string, string>> = {
  GRAPHQL_PARSE_FAILED: 'parse_failed',
  GRAPHQL_VALIDATION_FAILED: 'validation_failed',
  PERSISTED_QUERY_NOT_SUPPORTED: 'persisted_query_not_supported',
  INTROSPECTION_DISABLED: 'introspection_disabled',
  MAX_RECURSIVE_SELECTIONS_EXCEEDED: 'max_recursive_selections',
};

export const PUBLIC_CODES: ReadonlySet<string> = new Set([
  ...Object.keys(GATEWAY_ERROR_CODES),
  ...APOLLO_REQUEST_CODES,
]);

/** Codes that mean "nobody meant this": a subgraph's masked or uncoded error. */
const UNDELIBERATE_CODES: ReadonlySet<string> = new Set(['INTERNAL_SERVER_ERROR', 'DOWNSTREAM_SERVICE_ERROR']);

/** Codes counted as rejections (tickcast_gateway_rejected_total{reason}). */
export function rejectionReason(code: unknown): string | undefined {
  if (typeof code !== 'string' || code === 'SUBGRAPH_UNAVAILABLE') return undefined;
  return (GATEWAY_ERROR_CODES as Record<string, { reason: string }>)[code]?.reason ?? APOLLO_REJECTION_REASONS[code];
}

export interface GatewayErrorOptions {
  /** Extra, client-visible extensions (e.g. limit and actual value). */
  readonly extensions?: Record<string, unknown>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/** A deliberate error: its code reaches the client, and Apollo Server answers with its HTTP status. */
export function gatewayError(code: GatewayErrorCode, message: string, options: GatewayErrorOptions = {}): GraphQLError {
  const status = GATEWAY_ERROR_CODES[code].status;
  return new GraphQLError(message, {
    ...(options.cause instanceof Error ? { originalError: options.cause } : {}),
    extensions: {
      ...options.extensions,
      code,
      ...(status === null ? {} : { http: { status, headers: new HeaderMap(Object.entries(options.headers ?? {})) } }),
    },
  });
}

/** The JSON body of an error response the gateway writes itself (outside Apollo Server). */
export function errorBody(
  code: GatewayErrorCode | 'INTERNAL_SERVER_ERROR',
  message: string,
  extensions: Record<string, unknown> = {},
): string {
  return JSON.stringify({ errors: [{ message, extensions: { ...extensions, code } }] });
}

/** Messages of Apollo Server's request errors that carry no code, and the code clients get for them. */
const APOLLO_UNCODED_REQUEST_ERRORS: Readonly<Record<string, GatewayErrorCode>> = {
  'provided sha does not match query': 'PERSISTED_QUERY_HASH_MISMATCH',
  'Unsupported persisted query version': 'BAD_REQUEST',
};

export function apolloUncodedRequestCode(message: string): GatewayErrorCode | undefined {
  return Object.hasOwn(APOLLO_UNCODED_REQUEST_ERRORS, message) ? APOLLO_UNCODED_REQUEST_ERRORS[message] : undefined;
}

/** Extensions a subgraph may attach that must not travel further (internals, not contract). */
const PRIVATE_EXTENSIONS = ['stacktrace', 'exception', 'response', 'http'];

function publicExtensions(extensions: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(extensions ?? {}).filter(([key]) => !PRIVATE_EXTENSIONS.includes(key)));
}

/** Names a masked error in the client's answer and in the log line that holds its details. */
const newIncidentId = (): string => randomBytes(8).toString('hex');

/**
 * Apollo Server's `formatError`: deliberate errors pass, the rest are logged and masked. A
 * masked error carries an `incidentId` that is also in the log, so a user's report leads to
 * the details without them ever leaving the gateway.
 */
export function createErrorMasker(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.['code'];
    const serviceName = formatted.extensions?.['serviceName'];
    const where = {
      ...(formatted.path ? { path: formatted.path } : {}),
      ...(formatted.locations ? { locations: formatted.locations } : {}),
    };
    if (typeof serviceName === 'string') {
      // From a subgraph (or about one: SUBGRAPH_UNAVAILABLE); subgraphs mask their own internals,
      // and an uncoded or INTERNAL_SERVER_ERROR one is masked again here in case one does not.
      if (typeof code === 'string' && !UNDELIBERATE_CODES.has(code)) {
        return { message: formatted.message, ...where, extensions: publicExtensions(formatted.extensions) };
      }
      const incidentId = newIncidentId();
      logger.error(
        { err: error, subgraph: serviceName, message: formatted.message, incidentId },
        'subgraph error masked',
      );
      return {
        message: `Internal error in subgraph "${serviceName}"`,
        ...where,
        extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName, incidentId },
      };
    }
    // Apollo Server's persisted-query checks raise these without a code (Apollo then fills in
    // INTERNAL_SERVER_ERROR); they are the client's mistake.
    const uncoded = code === undefined || code === 'INTERNAL_SERVER_ERROR';
    const apolloRequestCode = uncoded && !serviceName ? apolloUncodedRequestCode(formatted.message) : undefined;
    if (apolloRequestCode) {
      return { message: formatted.message, ...where, extensions: { code: apolloRequestCode } };
    }
    if (typeof code === 'string' && PUBLIC_CODES.has(code)) {
      return { message: formatted.message, ...where, extensions: publicExtensions(formatted.extensions) };
    }
    const incidentId = newIncidentId();
    logger.error({ err: error, message: formatted.message, incidentId }, 'unexpected error masked');
    return { message: 'Internal server error', ...where, extensions: { code: 'INTERNAL_SERVER_ERROR', incidentId } };
  };
}
