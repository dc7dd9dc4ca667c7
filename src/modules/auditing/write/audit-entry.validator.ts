import { HttpStatus } from '@nestjs/common';
import { DomainError } from '@/common/errors/domain-error';
import {
  ACTION_TYPES,
  MAX_ACTOR_ID_LENGTH,
  MAX_DETAILS_BYTES,
  MAX_ENTITY_ID_LENGTH,
  MAX_ROLES,
  OUTCOMES,
  ROLE_PATTERN,
  type ActionLogInput,
  type ActionType,
  type Outcome,
} from '../audit.types';
import { redact } from '../capture/redaction';

/** An entry the auditing service refuses; the message names the field. */
export class AuditValidationError extends DomainError {
  constructor(message: string) {
    super(message, HttpStatus.BAD_REQUEST);
  }
}

/** An entry that passed validation: redacted, details serialized, ready to store. */
export interface ValidEntry {
  actorId: string;
  actionType: ActionType;
  entityType: string;
  entityId: string;
  /** Redacted, serialized JSON, or null. */
  details: string | null;
  outcome: Outcome;
  actorRoles: string[];
}

/** The entity types the log accepts (the registry, in the app). */
export interface KnownEntityTypes {
  has(entityType: string): boolean;
  list(): string[];
}

/**
 * Checks every field of an entry and returns it ready to store; throws an
 * `AuditValidationError` naming the first bad field. Pure: no I/O, no context.
 */
export function validateEntry(input: ActionLogInput, types: KnownEntityTypes): ValidEntry {
  if (input === null || typeof input !== 'object')
    throw new AuditValidationError('entry must be an object');
  const { actorId, actionType, entityType, entityId, details } = input;
  const outcome = input.outcome ?? 'SUCCESS';
  const actorRoles = input.actorRoles ?? [];
  if (typeof actorId !== 'string' || actorId.trim() === '') {
    throw new AuditValidationError('actorId is required');
  }
  if (actorId.length > MAX_ACTOR_ID_LENGTH) {
    throw new AuditValidationError(`actorId must be at most ${MAX_ACTOR_ID_LENGTH} characters`);
  }
  if (!(ACTION_TYPES as readonly unknown[]).includes(actionType)) {
    throw new AuditValidationError(
      `actionType must be one of ${ACTION_TYPES.join(', ')} (got ${JSON.stringify(actionType)})`,
    );
  }
  if (typeof entityType !== 'string' || !types.has(entityType)) {
    throw new AuditValidationError(
      `entityType ${JSON.stringify(entityType)} is unknown; known: ${types.list().join(', ')}`,
    );
  }
  const id =
    typeof entityId === 'number' && Number.isFinite(entityId) ? String(entityId) : entityId;
  if (typeof id !== 'string' || id.trim() === '') {
    throw new AuditValidationError('entityId is required (a non-empty string or a number)');
  }
  if (id.length > MAX_ENTITY_ID_LENGTH) {
    throw new AuditValidationError(`entityId must be at most ${MAX_ENTITY_ID_LENGTH} characters`);
  }
  if (!(OUTCOMES as readonly unknown[]).includes(outcome)) {
    throw new AuditValidationError(
      `outcome must be one of ${OUTCOMES.join(', ')} (got ${JSON.stringify(outcome)})`,
    );
  }
  if (
    !Array.isArray(actorRoles) ||
    actorRoles.length > MAX_ROLES ||
    !actorRoles.every((r) => typeof r === 'string' && ROLE_PATTERN.test(r))
  ) {
    throw new AuditValidationError(
      `actorRoles must be at most ${MAX_ROLES} role names matching ${String(ROLE_PATTERN)}`,
    );
  }
  return {
    actorId,
    actionType,
    entityType,
    entityId: id,
    details: serializeDetails(details),
    outcome,
    actorRoles: [...actorRoles],
  };
}

function serializeDetails(details: unknown): string | null {
  if (details === undefined || details === null) return null;
  if (typeof details !== 'object' || Array.isArray(details)) {
    throw new AuditValidationError('details must be a JSON object');
  }
  const serialized = JSON.stringify(redact(details));
  if (serialized.includes('\\u0000')) {
    throw new AuditValidationError('details must not contain NUL (\\u0000) characters');
  }
  if (Buffer.byteLength(serialized) > MAX_DETAILS_BYTES) {
    throw new AuditValidationError(`details must be at most ${MAX_DETAILS_BYTES} bytes of JSON`);
  }
  return serialized;
}
