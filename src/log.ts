import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths that may hold secrets anywhere in a log line; pino replaces them before writing. */
const REDACT = [
  'token',
  '*.token',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'cookie',
  '*.cookie',
  'headers.cookie',
  'req.headers.cookie',
  'csrfToken',
  '*.csrfToken',
  'clientSecret',
  '*.clientSecret',
  'req.headers["x-csrf-token"]',
  'req.headers["x-gitea-signature"]',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-hub-signature"]',
  'config.gitea.token',
  'config.apiToken',
  'config.feedToken',
  'config.webhookSecrets',
  'config.agentToken',
  'config.signIn.clientSecret',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'aiworker', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination as pino.DestinationStream | undefined,
  );
}

/** Strips credentials from a connection URL before it is logged. */
export function safeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
