/**
 * Errors with a closed set of codes. `retriable` decides what a stream processor does:
 * retry the batch (the cause is outside the record, e.g. a broker or database blip)
 * or dead-letter the record (the record itself is bad and would fail forever).
 */
export const ERROR_CODES = {
  INVALID_EVENT: { retriable: false, summary: 'a record does not match its event schema' },
  MALFORMED_FRAME: { retriable: false, summary: 'an exchange frame could not be parsed' },
  INVALID_TRADE: { retriable: false, summary: 'a trade has an impossible price, size or time' },
  DUPLICATE_TRADE: { retriable: false, summary: 'a trade id was already applied' },
  LATE_TRADE: { retriable: false, summary: 'a trade arrived after its window closed' },
  FUTURE_EVENT: {
    retriable: false,
    summary: "an event is stamped too far ahead of the wall clock or of its stream's event time",
  },
  IMPLAUSIBLE_TIME: { retriable: false, summary: 'an event is stamped before any market it could come from existed' },
  UPSTREAM_UNAVAILABLE: { retriable: true, summary: 'an external service could not be reached' },
  UPSTREAM_REJECTED: { retriable: false, summary: 'an external service refused the request' },
  RATE_LIMITED: { retriable: true, summary: 'an external service asked us to slow down' },
  STORE_UNAVAILABLE: { retriable: true, summary: 'the feature store could not be reached' },
  CONFIG_INVALID: { retriable: false, summary: 'configuration is missing or invalid' },
  NOT_YET_STORED: { retriable: true, summary: 'a record refers to rows another stream has not written yet' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class TickcastError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TickcastError';
    this.code = code;
    this.retriable = ERROR_CODES[code].retriable;
  }
}

export function isRetriable(error: unknown): boolean {
  return error instanceof TickcastError ? error.retriable : true;
}

/** Socket errors of a server that is not there (stopped, restarting, unreachable). */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
/** SQLSTATEs of a PostgreSQL server going away: class 08 (connection exception) and 57P01-57P03 (shutting down, starting). */
const CONNECTION_SQLSTATE = /^(08...|57P0[123])$/;
/** node-postgres reports these as plain Errors without a code. */
const PG_CONNECTION_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated',
  'Client has encountered a connection error',
  'Query read timeout',
];

/**
 * Whether `error` (or its cause) says the feature store could not be reached, as opposed to
 * a query the store refused: the first is the dependency's fault and worth a retry, the second
 * is a bug.
 */
export function isStoreUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof TickcastError && e.code === 'STORE_UNAVAILABLE') return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || CONNECTION_SQLSTATE.test(code))) return true;
    if (PG_CONNECTION_MESSAGES.some((m) => e instanceof Error && e.message.includes(m))) return true;
  }
  return false;
}
