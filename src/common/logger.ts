import type { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/app-config.js';

/**
 * Paths that may carry secrets. Nothing logs bodies or query strings, so these are a second
 * line of defence for objects that are logged whole.
 */
const REDACT = [
  'authorization',
  'cookie',
  'password',
  'secret',
  'token',
  'client_secret',
  'access_token',
  'refresh_token',
  'code',
  '*.authorization',
  '*.cookie',
  '*.client_secret',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  '*.code',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

const OPTIONS = { base: { service: 'latchkey' }, redact: { paths: REDACT, censor: '[redacted]' } };

/** The process-wide structured logger, JSON on stdout. Levels are set by `configureLogger`. */
export let logger: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info', ...OPTIONS });

/**
 * Sets the level. `stderr` moves the log lines off stdout: the CLI prints its result there
 * (`bootstrap --json`), and a log line in between would break it.
 */
export function configureLogger(level: LogLevel, options: { stderr?: boolean } = {}): Logger {
  if (options.stderr) {
    logger = pino({ level, ...OPTIONS }, pino.destination({ dest: 2, sync: true }));
  } else {
    logger.level = level;
  }
  return logger;
}

/** Replaces the logger (tests capture log lines through this). */
export function setLogger(next: Logger): void {
  logger = next;
}

/** Routes Nest's own log lines through pino. */
export class NestPinoLogger implements LoggerService {
  log(message: unknown, context?: string): void {
    logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    logger.trace({ context }, String(message));
  }
}
