import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino censors wherever they appear. Secret values should never reach a log call in the
 * first place; this is the second line of defence.
 */
export const redactPaths = [
  'password', '*.password', '*.*.password',
  'token', '*.token', '*.*.token', 'jumpcode', '*.jumpcode',
  'apiToken', '*.apiToken', 'cloudflareToken', '*.cloudflareToken', 'corestoreToken', '*.corestoreToken', 'authorization', '*.authorization', '*.headers.authorization',
  'values', '*.values', 'secretValues', '*.secretValues',
  'privateKey', '*.privateKey', '*.*.privateKey', 'X-Registry-Auth', '*.X-Registry-Auth',
];

/** The levels a logger takes, most verbose first ('silent' logs nothing). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: unknown): value is LogLevel {
  return LOG_LEVELS.includes(value as LogLevel);
}

export interface LoggerSettings {
  level?: string;
  /** Where log lines go; defaults to stderr so command output on stdout stays clean. */
  destination?: NodeJS.WritableStream | number;
}

/** The one root logger of a process. Components take `root.child({ component })`. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { app: 'coreflow' },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const dest = settings.destination ?? 2;
  return pino(options, typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest);
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
