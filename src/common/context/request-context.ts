import type { ClsStore } from 'nestjs-cls';

/** What every request (or system job) carries through AsyncLocalStorage. */
export interface RequestContext extends ClsStore {
  requestId: string;
  correlationId: string;
  /** The verified identity; `anonymous` until (or unless) a request proves one, `system` for jobs. */
  actorId: string;
  /** The roles the actor held when acting; `[]` for system actions and anonymous callers. */
  actorRoles: string[];
  /** The status a successful response of the current route gets (set by the audit interceptor). */
  routeStatus?: number;
  ip: string | null;
  userAgent: string | null;
  method: string | null;
  path: string | null;
}

/** The service's own jobs (the engine's sweep, the outbox retrier): never a caller. */
export const SYSTEM_ACTOR = 'system';
/** A caller without a verified identity. */
export const ANONYMOUS_ACTOR = 'anonymous';

export const REQUEST_ID_HEADER = 'x-request-id';
export const CORRELATION_ID_HEADER = 'x-correlation-id';
export const USER_ID_HEADER = 'x-user-id';

/** Ids we accept from callers: printable, bounded, no header/log injection. */
const SAFE_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function acceptId(value: unknown): string | undefined {
  const v: unknown = Array.isArray(value) ? value[0] : value;
  return typeof v === 'string' && SAFE_ID.test(v) ? v : undefined;
}

/** The correlation id: the caller's `X-Correlation-ID` when sane, else the request id. */
export function correlationIdOf(headers: Record<string, unknown>, requestId: string): string {
  return acceptId(headers[CORRELATION_ID_HEADER]) ?? requestId;
}
