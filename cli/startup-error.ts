/**
 * What to tell the user when a command fails before it is running: a dependency that does
 * not answer at start-up, a port already taken. One line naming the cause and what to do
 * next, instead of an uncaught exception's stack (which the log keeps, at debug level).
 */
import type { Config } from '../lib/config.ts';

interface SystemError {
  code?: string;
  syscall?: string;
  address?: string;
  port?: number;
  name?: string;
  message?: string;
  cause?: unknown;
}

/** The first error in the `cause` chain with a system error code (kafkajs wraps them). */
function systemCause(error: unknown): SystemError | undefined {
  for (let e = error as SystemError | undefined, depth = 0; e && depth < 5; e = e.cause as SystemError, depth++) {
    if (typeof e.code === 'string') return e;
  }
  return undefined;
}

const isKafkaError = (error: unknown): boolean => /^KafkaJS/.test((error as SystemError | undefined)?.name ?? '');

export function explainStartupError(error: unknown, config: Pick<Config, 'KAFKA_BROKERS' | 'DATABASE_URL'>): string {
  const message = (error as SystemError | undefined)?.message ?? String(error);
  const system = systemCause(error);
  if (system?.code === 'EADDRINUSE' && system.syscall === 'listen') {
    return (
      `cannot listen on ${system.address ?? '127.0.0.1'}:${system.port ?? '?'}: the port is in use. ` +
      'Stop whatever holds it, or choose another port (GATEWAY_PORT, METRICS_PORT, SUBGRAPH_*_PORT).'
    );
  }
  if (isKafkaError(error) && config.KAFKA_BROKERS) {
    return (
      `Kafka at ${config.KAFKA_BROKERS.join(',')} is not answering (${message}). ` +
      'Start it (`scripts/services up kafka`), fix KAFKA_BROKERS, or unset KAFKA_BROKERS to run on the in-process bus.'
    );
  }
  if (
    config.DATABASE_URL &&
    (system?.code === 'ECONNREFUSED' || /connect|terminat|password authentication/i.test(message))
  ) {
    const where = new URL(config.DATABASE_URL);
    return (
      `PostgreSQL at ${where.hostname}:${where.port || 5432} is not answering (${message}). ` +
      'Start it (`scripts/services up postgres`), fix DATABASE_URL, or unset it to use the embedded store.'
    );
  }
  return `start-up failed: ${message}`;
}
