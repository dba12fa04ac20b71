/**
 * Structured JSON logs (pino). A command creates its logger from the configured LOG_LEVEL
 * (cli/main.ts) and hands it down; modules take a child naming themselves. `rootLogger` is
 * the default of the modules that may be built without one.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { service: 'tickcast' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The process-wide logger. Tests lower its level through LOG_LEVEL. */
export const rootLogger: Logger = createLogger();
