/**
 * The LLM scorer: the `openai` client against any OpenAI-compatible Chat Completions
 * endpoint (OpenAI, Ollama, vLLM, llama.cpp server: base URL, model and key from config),
 * strict structured output, a per-attempt timeout, retries with capped backoff, a cache,
 * and metrics. Every failed attempt is counted by reason; after the last attempt the call
 * rejects with an LlmFailure and the caller (ResilientScorer) falls back.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { Logger } from '../../lib/logger.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../lib/backoff.ts';
import { retryAfterMs as readRetryAfter } from '../../lib/retry-after.ts';
import { cacheKey, ScoreCache } from './cache.ts';
import { LlmFailure, parseAnswer, responseJsonSchema } from './llm-output.ts';
import { llmCacheHits, llmFailures, llmLatency, llmRequests, llmTokens } from './metrics.ts';
import { renderUser, type Prompt } from './prompt.ts';
import type { ArticleText, CoinScore, ScoredArticle, SentimentScorer } from './scorer.ts';

export interface LlmScorerOptions {
  readonly baseUrl: string;
  readonly model: string;
  readonly apiKey: string;
  readonly prompt: Prompt;
  readonly timeoutMs: number;
  /** Attempts after the first. */
  readonly maxRetries: number;
  readonly backoff: BackoffPolicy;
  readonly logger: Logger;
  readonly cache?: ScoreCache;
}

/** Article text sent to the model is capped: headlines and ledes, not whole pages. */
const MAX_TEXT_CHARS = 4_000;

export class LlmScorer implements SentimentScorer {
  readonly name: string;
  private readonly client: OpenAI;
  private readonly cache: ScoreCache;

  constructor(private readonly options: LlmScorerOptions) {
    this.name = `llm:${options.model}`;
    // Retries are ours (counted per attempt, breaker-aware), not the client's.
    this.client = new OpenAI({
      baseURL: options.baseUrl,
      apiKey: options.apiKey,
      timeout: options.timeoutMs,
      maxRetries: 0,
    });
    this.cache = options.cache ?? new ScoreCache();
  }

  async score(article: ArticleText & { source?: string }, coins: readonly string[]): Promise<ScoredArticle> {
    const { prompt, model } = this.options;
    const key = cacheKey(prompt.version, model, article.contentHash, coins);
    const cached = this.cache.get(key);
    if (cached) {
      llmCacheHits.inc();
      return { scores: cached, scorer: this.name, promptVersion: prompt.version };
    }
    for (let attempt = 0; ; attempt += 1) {
      try {
        const scores = await this.attempt(article, coins);
        this.cache.set(key, scores);
        return { scores, scorer: this.name, promptVersion: prompt.version };
      } catch (error) {
        const failure = classify(error);
        llmFailures.inc({ reason: failure.reason });
        // An unreachable endpoint fails every attempt the same way: the counter above and the
        // one `dependency down: llm` line say so, not a warning per retry.
        this.options.logger[failure.outage ? 'debug' : 'warn'](
          { model, attempt, reason: failure.reason, err: failure.message },
          'LLM sentiment attempt failed',
        );
        if (!failure.retriable || attempt >= this.options.maxRetries) throw failure;
        // A server that says when to come back (429/503 Retry-After) is waited for, within the backoff's cap.
        const delay = Math.max(backoffDelay(attempt, this.options.backoff), failure.retryAfterMs ?? 0);
        await sleep(Math.min(delay, this.options.backoff.maxDelayMs));
      }
    }
  }

  private async attempt(article: ArticleText & { source?: string }, coins: readonly string[]): Promise<CoinScore[]> {
    const { prompt, model } = this.options;
    const stopTimer = llmLatency.startTimer();
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.client.chat.completions.create({
        model,
        temperature: 0,
        messages: [
          { role: 'system', content: prompt.system },
          {
            role: 'user',
            content: renderUser(prompt, {
              coins: coins.join(', '),
              source: article.source ?? 'unknown',
              title: article.title,
              text: article.text.slice(0, MAX_TEXT_CHARS),
            }),
          },
        ],
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'coin_sentiment', strict: true, schema: responseJsonSchema(coins) },
        },
      });
    } catch (error) {
      stopTimer();
      llmRequests.inc({ outcome: 'error' });
      throw error;
    }
    stopTimer();
    llmTokens.inc({ kind: 'prompt' }, completion.usage?.prompt_tokens ?? 0);
    llmTokens.inc({ kind: 'completion' }, completion.usage?.completion_tokens ?? 0);
    const choice = completion.choices?.[0];
    try {
      if (choice?.message?.refusal) throw new LlmFailure('refusal', `refused: ${choice.message.refusal}`, false);
      if (choice?.finish_reason === 'length') {
        throw new LlmFailure('truncated', 'the answer was cut off (finish_reason "length")', true);
      }
      const scores = parseAnswer(choice?.message?.content, coins);
      llmRequests.inc({ outcome: 'ok' });
      return scores;
    } catch (error) {
      llmRequests.inc({ outcome: 'rejected' });
      throw error;
    }
  }
}

/** Any error of an attempt as a counted LlmFailure. */
export function classify(error: unknown): LlmFailure {
  if (error instanceof LlmFailure) return error;
  if (error instanceof APIConnectionTimeoutError) return new LlmFailure('timeout', error.message, true);
  if (error instanceof APIConnectionError) return new LlmFailure('connection', error.message, true);
  if (error instanceof APIError && error.status !== undefined) {
    const retryAfterMs = readRetryAfter(error.headers);
    if (error.status === 429) return new LlmFailure('rate_limited', error.message, true, retryAfterMs);
    if (error.status >= 500) return new LlmFailure('server_error', error.message, true, retryAfterMs);
    return new LlmFailure('client_error', error.message, false);
  }
  // A body the client could not read as a completion (e.g. a proxy's HTML page).
  return new LlmFailure('invalid_json', (error as Error).message ?? String(error), true);
}
