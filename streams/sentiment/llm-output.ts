/**
 * The LLM's answer: the JSON schema sent as `response_format` (strict structured output)
 * and the zod check applied to whatever comes back, since a local model or a proxy may
 * ignore the schema. Anything that is not exactly one well-formed entry per coin asked is
 * refused with a reason; a refused answer is counted and never becomes a score.
 */
import { z } from 'zod';
import { LABEL_THRESHOLD, type CoinScore } from './scorer.ts';

export const LLM_FAILURE_REASONS = [
  'timeout',
  'connection',
  'rate_limited',
  'server_error',
  'client_error',
  'refusal',
  'truncated',
  'empty',
  'invalid_json',
  'schema',
  'partial',
  'inconsistent',
] as const;
export type LlmFailureReason = (typeof LLM_FAILURE_REASONS)[number];

/**
 * Reasons that say the endpoint is unavailable (not reached, overloaded, rate limited), not
 * that this article's answer was bad: the extractor holds the article until the LLM is back
 * instead of scoring it offline.
 */
const OUTAGE_REASONS: ReadonlySet<LlmFailureReason> = new Set([
  'timeout',
  'connection',
  'rate_limited',
  'server_error',
]);

/** A failed LLM attempt with the reason it is counted under. */
export class LlmFailure extends Error {
  constructor(
    readonly reason: LlmFailureReason,
    message: string,
    readonly retriable: boolean,
    /** How long the server asked us to wait (Retry-After on a 429 or 503), if it said. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'LlmFailure';
  }

  get outage(): boolean {
    return OUTAGE_REASONS.has(this.reason);
  }
}

/** JSON schema for `response_format: { type: 'json_schema', json_schema: { strict: true, schema } }`. */
export function responseJsonSchema(coins: readonly string[]): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['coins'],
    properties: {
      coins: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['coin', 'score', 'label', 'confidence', 'reason'],
          properties: {
            coin: { type: 'string', enum: [...coins] },
            score: { type: 'number', minimum: -1, maximum: 1 },
            label: { type: 'string', enum: ['bullish', 'neutral', 'bearish'] },
            confidence: { type: 'number', minimum: 0, maximum: 1 },
            reason: { type: 'string' },
          },
        },
      },
    },
  };
}

const entrySchema = z.object({
  coin: z.string().transform((c) => c.toUpperCase()),
  score: z.number().finite().min(-1).max(1),
  label: z.enum(['bullish', 'neutral', 'bearish']),
  confidence: z.number().finite().min(0).max(1),
  reason: z.string().trim().min(1).max(400),
});
const answerSchema = z.object({ coins: z.array(entrySchema) });

const LABELS = { bullish: 'BULLISH', neutral: 'NEUTRAL', bearish: 'BEARISH' } as const;

/**
 * Scores for exactly `coins` from the model's message content, or an LlmFailure. Entries
 * for coins not asked are dropped; a label that contradicts its score's sign beyond the
 * neutral band is refused (the model did not follow its own rule).
 */
export function parseAnswer(content: string | null | undefined, coins: readonly string[]): CoinScore[] {
  if (!content || content.trim() === '') throw new LlmFailure('empty', 'the model answered nothing', true);
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    throw new LlmFailure('invalid_json', `not JSON: ${content.slice(0, 80)}`, true);
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new LlmFailure('schema', `answer does not match the schema: ${issues}`, true);
  }
  const byCoin = new Map(parsed.data.coins.map((e) => [e.coin, e]));
  const missing = coins.filter((c) => !byCoin.has(c));
  if (missing.length > 0) throw new LlmFailure('partial', `answer lacks ${missing.join(', ')}`, true);
  return coins.map((coin) => {
    const entry = byCoin.get(coin)!;
    const contradicts =
      (entry.label === 'bullish' && entry.score <= -LABEL_THRESHOLD) ||
      (entry.label === 'bearish' && entry.score >= LABEL_THRESHOLD);
    if (contradicts) {
      throw new LlmFailure('inconsistent', `${coin}: label ${entry.label} with score ${entry.score}`, true);
    }
    return {
      coin,
      score: entry.score,
      label: LABELS[entry.label],
      confidence: entry.confidence,
      reason: entry.reason,
    };
  });
}
