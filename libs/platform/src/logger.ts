import pino, { type Logger } from 'pino';
import type { LoggerService } from '@nestjs/common';

export type { Logger } from 'pino';

/**
 * Logs are for people: pretty and colourful in a terminal, one JSON object per line when piped.
 * Each line carries the component that wrote it.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', pretty: boolean = !!process.stdout.isTTY): Logger {
  if (pretty) {
    return pino({
      level,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', messageFormat: '[{component}] {msg}' },
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
