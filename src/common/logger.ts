import type { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/app-config.js';

/**
 * Field names that may hold a credential, a token, a code, a cookie or personal data. Nothing
 * logs request bodies, headers or query strings, so redaction is the second line of defence for
 * objects that are logged whole (errors, with their enumerable fields, among them).
 */
const SECRET_FIELDS = [
  'authorization',
  'cookie',
  'set-cookie',
  'password',
  'secret',
  'client_secret',
  'clientSecret',
  'code',
  'code_verifier',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'subject_token',
  'actor_token',
  'client_assertion',
  'assertion',
  'registration_access_token',
  'setup_token',
  'setupToken',
  'setup_url',
  'setupUrl',
  'email',
];

/** A pino redaction path segment: bracket notation for names that are not identifiers. */
function segment(field: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(field) ? `.${field}` : `["${field}"]`;
}

/**
 * Objects that are logged with fields inside them: errors (their own fields, cause and driver
 * error), and request or response shapes. Named explicitly rather than with a `*` wildcard: pino
 * compiles fixed paths into plain property reads, while each wildcard walks every logged object,
 * which made the per-request access-log line cost about 80 µs instead of about 2 µs.
 */
const PARENTS = [
  'err',
  'err.cause',
  'err.driverError',
  'err.headers',
  'err.config.headers',
  'err.response.headers',
  'req',
  'req.headers',
  'res',
  'res.headers',
  'request.headers',
  'response.headers',
  'headers',
  'body',
  'params',
  'query',
  'form',
  'details',
];

/**
 * Each field at the top level and inside each parent. TypeORM's QueryFailedError carries the
 * query's parameters and PostgreSQL's `detail` repeats the conflicting values: both are dropped
 * from logged errors (the SQL text holds only placeholders and stays, for diagnosis).
 */
const REDACT = [
  ...SECRET_FIELDS.flatMap((field) => [
    segment(field).replace(/^\./, ''),
    ...PARENTS.map((parent) => parent + segment(field)),
  ]),
  'err.parameters',
  'err.detail',
  'err.driverError.detail',
  'err.driverError.parameters',
];

/** How every logger of the process redacts (exported for its spec). */
export const REDACTION = { paths: REDACT, censor: '[redacted]' };

const OPTIONS = { base: { service: 'latchkey' }, redact: REDACTION };

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
