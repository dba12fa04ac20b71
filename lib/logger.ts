/** Structured JSON logs (pino). One root logger; modules take a child with their name. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { service: 'tickcast' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The process-wide logger. Tests lower its level through LOG_LEVEL. */
export const rootLogger: Logger = createLogger();
