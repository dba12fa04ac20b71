/** The gateway's Prometheus metrics (served on the ops endpoint with everything else in lib/metrics.ts). */
import { counter, gauge, histogram } from '../lib/metrics.ts';

export type Outcome = 'ok' | 'partial' | 'error' | 'rejected';

export const gatewayMetrics = {
  requests: counter('tickcast_gateway_requests_total', 'GraphQL requests answered, by outcome', ['outcome']),
  requestSeconds: histogram(
    'tickcast_gateway_request_seconds',
    'Time from request received to response written',
    ['outcome'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ),
  rejected: counter('tickcast_gateway_rejected_total', 'Requests refused before execution, by reason', ['reason']),
  subgraphErrors: counter(
    'tickcast_gateway_subgraph_errors_total',
    'Subgraph fetches that failed (timeout, unreachable, HTTP error), by subgraph',
    ['subgraph', 'reason'],
  ),
  limitsDegraded: gauge(
    'tickcast_gateway_limits_degraded',
    '1 while the shared limits store (GATEWAY_LIMITS_STORE=postgres) does not answer and limits are per replica',
  ),
  limitsStoreErrors: counter(
    'tickcast_gateway_limits_store_errors_total',
    'Limits store queries that failed or timed out (each falls back to per-replica limits), by operation',
    ['operation'],
  ),
  ready: gauge('tickcast_gateway_ready', '1 when the supergraph is loaded and the gateway serves requests'),
};
