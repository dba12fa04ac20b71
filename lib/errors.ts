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
