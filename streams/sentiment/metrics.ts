/** Metrics of the sentiment pipeline (the Grafana dashboards chart these names). */
import { counter, histogram } from '../../lib/metrics.ts';

/** Per HTTP attempt: ok (valid answer), rejected (answered, but garbage), error (no usable HTTP answer). */
export const llmRequests = counter('tickcast_sentiment_llm_requests_total', 'LLM chat completion attempts by outcome', [
  'outcome',
]);
export const llmLatency = histogram(
  'tickcast_sentiment_llm_latency_seconds',
  'Duration of one LLM chat completion attempt',
  [],
  [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
export const llmTokens = counter('tickcast_sentiment_llm_tokens_total', 'Tokens the LLM reported using, by kind', [
  'kind',
]);
export const llmFailures = counter(
  'tickcast_sentiment_llm_failures_total',
  'Failed LLM attempts by reason (timeout, server_error, invalid_json, partial, ...): never stored as scores',
  ['reason'],
);
export const llmCacheHits = counter(
  'tickcast_sentiment_llm_cache_hits_total',
  'Articles answered from the LLM cache (same content hash, prompt version and model)',
);
export const signalsProduced = counter('tickcast_sentiment_signals_total', 'Sentiment signals published, by scorer', [
  'scorer',
]);
export const fallbacks = counter(
  'tickcast_sentiment_fallbacks_total',
  'Articles scored offline because the LLM answered but unusably after its retries (why: llm_failed)',
  ['why'],
);
