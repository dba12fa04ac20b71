/** Metrics shared by the trade sources, declared once so label sets stay identical. */
import { counter, gauge, histogram } from '../../lib/metrics.ts';

export const framesRejected = counter(
  'tickcast_source_frames_rejected_total',
  'Exchange frames, or entries inside a frame, rejected as malformed (reason: bad_json, bad_shape, bad_symbol, invalid_price, invalid_qty, bad_timestamp, invalid_trade)',
  ['source', 'reason'],
);

export const tradesEmitted = counter('tickcast_source_trades_emitted_total', 'Trades delivered to the sink', [
  'source',
  'pair',
]);

export const duplicateTrades = counter(
  'tickcast_source_duplicate_trades_total',
  'Trades dropped because their trade id was not above the last one emitted for the pair',
  ['source', 'pair'],
);

export const clocksEmitted = counter('tickcast_source_clocks_emitted_total', 'Clock events delivered to the sink', [
  'source',
  'pair',
]);

/** 0 disconnected, 1 connecting, 2 open (subscribing), 3 subscribed (at least one pair acknowledged). */
export const connectionState = gauge(
  'tickcast_source_connection_state',
  'Exchange connection state: 0 disconnected, 1 connecting, 2 open, 3 subscribed',
  ['source'],
);

export const reconnects = counter('tickcast_source_reconnects_total', 'Reconnection attempts after a lost connection', [
  'source',
]);

export const subscribeErrors = counter(
  'tickcast_source_subscribe_errors_total',
  'Subscription requests the exchange refused',
  ['source'],
);

export const restRequests = counter('tickcast_source_rest_requests_total', 'REST requests by outcome', [
  'source',
  'endpoint',
  'outcome',
]);

export const restRetries = counter('tickcast_source_rest_retries_total', 'REST requests retried after a backoff', [
  'source',
  'reason',
]);

export const restRequestSeconds = histogram(
  'tickcast_source_rest_request_seconds',
  'REST request latency',
  ['source', 'endpoint'],
  [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
);
