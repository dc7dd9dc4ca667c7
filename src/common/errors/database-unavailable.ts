import { QueryRunnerAlreadyReleasedError } from 'typeorm';
/** Seconds a client should wait before retrying a 503 (the pool reconnects on its own). */
export const RETRY_AFTER_SECONDS = 1;

/**
 * SQLSTATEs that mean "the database cannot be reached right now", not "this request is
 * wrong": class 08 (connection exception), admin/crash shutdown and "cannot connect now"
 * (57P01–57P03, e.g. while the server starts or stops), too many connections (53300).
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Socket-level failures to reach the server (Node's `error.code`). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What node-postgres says when a connection dies or was never usable (it sets no code). */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated', // … unexpectedly / … due to connection timeout
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
];

/**
 * Whether `error` (or what it wraps: TypeORM's `driverError`, a `cause`, an AggregateError's
 * errors) says the database is unreachable. Such a request may be retried as it is.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 4 || error === null || typeof error !== 'object') return false;
  // TypeORM releases a query runner when its connection emits an error (the server went
  // away mid-transaction); the request's next query on it then fails with this.
  if (error instanceof QueryRunnerAlreadyReleasedError) return true;
  const e = error as {
    code?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof e.code === 'string') {
    if (e.code.startsWith('08') && e.code.length === 5) return true;
    if (UNAVAILABLE_STATES.has(e.code) || NETWORK_CODES.has(e.code)) return true;
  }
  const message = typeof e.message === 'string' ? e.message : '';
  if (PG_CONNECTION_MESSAGES.some((m) => message.startsWith(m))) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1)))
    return true;
  return (
    isDatabaseUnavailable(e.driverError, depth + 1) || isDatabaseUnavailable(e.cause, depth + 1)
  );
}
