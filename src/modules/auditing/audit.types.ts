/** `EXECUTE`: a tool call made by the workflow executor. */
export const ACTION_TYPES = ['CREATE', 'READ', 'UPDATE', 'DELETE', 'EXECUTE'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/**
 * How the attempt ended: it happened (`SUCCESS`), the handler failed and its change rolled
 * back (`FAILURE`), or the caller was refused before the handler ran (`DENIED`, 401/403).
 */
export const OUTCOMES = ['SUCCESS', 'FAILURE', 'DENIED'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * The entity id of a rejected attempt that names no entity: a failed or denied CREATE (there
 * is no result to take the id from), or a route without an `:id`.
 */
export const UNKNOWN_ENTITY_ID = '-';
/** The entity id of a `READ ACTION_LOG` entry for a search (a single read names the entry). */
export const SEARCH_ENTITY_ID = 'search';

export const MAX_ROLES = 32;
export const ROLE_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Entity types known without any declaration; modules add theirs through `@Audited`. */
export const BUILT_IN_ENTITY_TYPES = [
  'MCP_DEFINITION',
  'MCP_VERSION',
  'WORKFLOW_DEFINITION',
  'WORKFLOW_RUN',
  'ACTION_LOG',
  // The retention job's entries: an archive written, a month's partition purged.
  'ACTION_LOG_ARCHIVE',
  'ACTION_LOG_PARTITION',
] as const;

export const ENTITY_TYPE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
export const MAX_ENTITY_ID_LENGTH = 256;
export const MAX_ACTOR_ID_LENGTH = 128;
/**
 * Serialized details larger than this are refused. It is above anything the API's own DTOs
 * let through (a snapshot of the largest valid definition or version), so no valid change is
 * ever blocked by its audit entry.
 */
export const MAX_DETAILS_BYTES = 1024 * 1024;

export type AuditDetails = Record<string, unknown>;

/** What a caller of `AuditingService.createActionLogEntry` provides. */
export interface ActionLogInput {
  actorId: string;
  actionType: ActionType;
  entityType: string;
  entityId: string | number;
  details?: AuditDetails | null;
  /** Default `SUCCESS`. */
  outcome?: Outcome;
  /** The roles the actor held when acting; default `[]`. */
  actorRoles?: string[];
}

/** Request metadata stored with an entry; null for system actions. */
export interface ActionLogContext {
  requestId: string | null;
  correlationId: string | null;
  ip: string | null;
  userAgent: string | null;
  method: string | null;
  path: string | null;
  /** The HTTP status of the request (the route's success status, or the error's). */
  statusCode: number | null;
}

/** An entry as the API returns it. */
export interface ActionLogEntry extends ActionLogContext {
  id: string;
  eventId: string;
  /** UTC ISO-8601 with microseconds: the database's own precision, and the cursor's. */
  timestamp: string;
  actorId: string;
  actionType: ActionType;
  entityType: string;
  entityId: string;
  details: AuditDetails | null;
  outcome: Outcome;
  actorRoles: string[];
  /** The entry's position in the hash chain (a bigint, as a string); null until sealed. */
  seq: string | null;
  /** The chain's hash at `seq` (hex); null until sealed. */
  hash: string | null;
  /** The canonical form the hash covers (see the README); null until sealed. */
  hashVersion: number | null;
}

export type AuditWriteOutcome =
  { eventId: string; stored: true } | { eventId: string; stored: false; error: string };
