/**
 * The scorer configuration selects: the LLM (with breaker, held articles while it is
 * unavailable, and the lexicon for unusable answers) when LLM_BASE_URL and LLM_MODEL are
 * set, the offline lexicon otherwise. Says which, loudly, because every signal's meaning
 * depends on it.
 */
import type { Config } from '../../lib/config.ts';
import { dependencies, type DependencyHealth } from '../../lib/dependencies.ts';
import { TickcastError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { CircuitBreaker } from './breaker.ts';
import { LexiconScorer } from './lexicon.ts';
import { LlmScorer } from './llm.ts';
import { loadPrompt } from './prompt.ts';
import { ResilientScorer } from './resilient.ts';
import type { SentimentScorer } from './scorer.ts';

export function scorerFromConfig(
  config: Config,
  logger: Logger,
  health: DependencyHealth = dependencies,
): SentimentScorer {
  const offline = new LexiconScorer();
  if (!config.LLM_BASE_URL && !config.LLM_MODEL) {
    logger.info(
      { scorer: offline.name },
      'sentiment scorer: offline lexicon (set LLM_BASE_URL and LLM_MODEL for an LLM)',
    );
    return offline;
  }
  if (!config.LLM_BASE_URL || !config.LLM_MODEL) {
    throw new TickcastError(
      'CONFIG_INVALID',
      'LLM_BASE_URL and LLM_MODEL go together: set both, or neither for the offline scorer',
    );
  }
  const prompt = loadPrompt(config.LLM_PROMPT_VERSION);
  const log = logger.child({ component: 'sentiment-llm' });
  const llm = new LlmScorer({
    baseUrl: config.LLM_BASE_URL,
    model: config.LLM_MODEL,
    apiKey: config.LLM_API_KEY,
    prompt,
    timeoutMs: config.LLM_TIMEOUT_MS,
    maxRetries: config.LLM_MAX_RETRIES,
    backoff: { initialDelayMs: config.LLM_RETRY_BASE_MS, maxDelayMs: 30_000, multiplier: 2, jitter: 0.3 },
    logger: log,
  });
  const breaker = new CircuitBreaker({
    failureThreshold: config.LLM_CIRCUIT_FAILURES,
    cooldownMs: config.LLM_CIRCUIT_COOLDOWN_MS,
    // Debug: the dependency registry logs the outage once (`dependency down: llm`, then up
    // again); the circuit moves open → half-open → open on every failed trial.
    onChange: (from, to) => log.debug({ from, to }, `sentiment LLM circuit ${to}`),
  });
  health.useLogger(logger);
  logger.info(
    {
      scorer: llm.name,
      fallback: offline.name,
      baseUrl: config.LLM_BASE_URL,
      prompt: prompt.version,
      maxOutageMs: config.LLM_MAX_OUTAGE_MS,
    },
    'sentiment scorer: LLM (articles held while it is unavailable; unusable answers scored offline)',
  );
  return new ResilientScorer(llm, offline, breaker, log, {
    maxOutageMs: config.LLM_MAX_OUTAGE_MS,
    health,
    checkIntervalMs: config.DEPENDENCY_CHECK_INTERVAL_MS,
  });
}
