/** Metrics shared by both predictions store implementations; `backend` tells them apart. */
import { counter, histogram } from '../../lib/metrics.ts';

/**
 * Items of bulk writes by outcome: `ok`, `duplicate` (a create that found the id stored,
 * which is success), `retried` (a retriable item failure sent again), `failed` (given up).
 */
export const bulkItems = counter(
  'tickcast_predictions_store_bulk_items_total',
  'Items of predictions store writes by operation and outcome',
  ['backend', 'op', 'outcome'],
);

/** Retries after a retriable failure: of a whole request (`request`) or of bulk items (`items`). */
export const retries = counter('tickcast_predictions_store_retries_total', 'Predictions store retries', [
  'backend',
  'op',
  'scope',
]);

export const requestSeconds = histogram(
  'tickcast_predictions_store_request_seconds',
  'Latency of one predictions store request attempt',
  ['backend', 'op', 'result'],
);

/** Stored predictions that failed `predictionSchema` when read back (skipped, logged). */
export const invalidStored = counter(
  'tickcast_predictions_store_invalid_rows_total',
  'Stored predictions skipped because they no longer match the prediction schema',
  ['backend'],
);
