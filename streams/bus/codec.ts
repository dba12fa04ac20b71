/** JSON encoding of bus values, validated against the topic's schema on the way in. */
import type { z } from 'zod';
import { TickcastError } from '../../lib/errors.ts';
import type { InboundRecord } from './bus.ts';

export function encodeValue(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * Parses a record's value with `schema`; a record that does not match is a non-retriable INVALID_EVENT.
 * `quick` (see quick-check.ts) may accept the parsed JSON first, returning exactly what `schema`
 * would; when it returns undefined, `schema` decides and explains.
 */
export function decodeValue<T>(
  schema: z.ZodType<T>,
  record: InboundRecord,
  quick?: (json: unknown) => T | undefined,
): T {
  if (record.value === null) {
    throw new TickcastError('INVALID_EVENT', `${record.topic}@${record.partition}:${record.offset} has no value`);
  }
  let json: unknown;
  try {
    json = JSON.parse(record.value.toString('utf8'));
  } catch (cause) {
    throw new TickcastError('INVALID_EVENT', `${record.topic}@${record.partition}:${record.offset} is not JSON`, {
      cause,
    });
  }
  const accepted = quick?.(json);
  if (accepted !== undefined) return accepted;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ');
    throw new TickcastError(
      'INVALID_EVENT',
      `${record.topic}@${record.partition}:${record.offset} rejected: ${issues}`,
    );
  }
  return parsed.data;
}
