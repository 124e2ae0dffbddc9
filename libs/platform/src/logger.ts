import pino, { type Logger } from 'pino';
import type { LoggerService } from '@nestjs/common';

export type { Logger } from 'pino';

/** `pretty`: one readable line per step; `json`: one JSON object per line; `auto`: pretty in a terminal, JSON when piped. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Logs are for people: pretty in a terminal and one JSON object per line when piped (for jq and
 * log collectors), unless LOG_FORMAT says otherwise: `pretty` writes the same readable lines to a
 * file or pipe too, coloured only in a terminal. Each line carries the component that wrote it.
 */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? 'info',
  format: LogFormat = (process.env.LOG_FORMAT as LogFormat | undefined) ?? 'auto',
  terminal: boolean = !!process.stdout.isTTY,
): Logger {
  if (format === 'pretty' || (format === 'auto' && terminal)) {
    return pino({
      level,
      transport: {
        target: 'pino-pretty',
        options: { colorize: terminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,component', messageFormat: '[{component}] {msg}' },
      },
    });
  }
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Routes NestJS's own messages through the same logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.debug({ component: context ?? 'nest' }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ component: context ?? 'nest', trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ component: context ?? 'nest' }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ component: context ?? 'nest' }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ component: context ?? 'nest' }, String(message));
  }
}
