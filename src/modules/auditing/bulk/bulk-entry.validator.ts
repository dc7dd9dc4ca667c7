import { BadRequestException } from '@nestjs/common';
import type { ActionLogContext, ActionLogInput } from '../audit.types';
import {
  AuditValidationError,
  validateEntry,
  type KnownEntityTypes,
  type ValidEntry,
} from '../write/audit-entry.validator';

/** The most entries one bulk call (or `createActionLogEntries`) takes. */
export const MAX_BULK_ENTRIES = 10_000;
/** The oldest `timestamp` an entry may carry: an import of history, not an arbitrary date. */
export const OLDEST_TIMESTAMP = '2000-01-01T00:00:00Z';
/** The per-item errors a 400 lists at most (the rest are counted). */
const MAX_REPORTED_ERRORS = 100;

/** One entry of a bulk write: an entry's fields, its event id, and optionally its time. */
export interface BulkEntryInput extends ActionLogInput, Partial<ActionLogContext> {
  /** The client's id of the event (UUID): a retried batch stores nothing twice. */
  eventId: string;
  /** When it happened (ISO-8601, past, not before 2000); default: when it is stored. */
  timestamp?: string;
}

/** A bulk entry ready to store: validated, redacted, with its metadata. */
export interface ValidBulkEntry extends ValidEntry, ActionLogContext {
  eventId: string;
  timestamp: string | null;
}

export interface BulkItemError {
  index: number;
  field: string | null;
  message: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$/;
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Optional text metadata: its longest value, and a pattern when it has one. */
const TEXT_FIELDS: Record<string, { max: number; pattern?: RegExp }> = {
  requestId: { max: 128 },
  correlationId: { max: 128 },
  ip: { max: 64 },
  userAgent: { max: 1024 },
  method: { max: 16, pattern: /^[A-Z]+$/ },
  path: { max: 2048 },
};
const ENTRY_FIELDS = new Set([
  'eventId',
  'timestamp',
  'actorId',
  'actionType',
  'entityType',
  'entityId',
  'details',
  'outcome',
  'actorRoles',
  'statusCode',
  ...Object.keys(TEXT_FIELDS),
]);

class ItemError extends Error {
  constructor(
    readonly field: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** Refuses an empty batch and one above MAX_BULK_ENTRIES (400), before any item is read. */
export function checkBatchSize(items: unknown[]): void {
  if (items.length === 0) throw new BadRequestException('entries must not be empty');
  if (items.length > MAX_BULK_ENTRIES) {
    throw new BadRequestException(`entries must hold at most ${MAX_BULK_ENTRIES} items`);
  }
}

/**
 * Validates the entries of one batch, a range at a time (so the store can start on the first
 * ones while the rest are checked), with the same rules and redaction as a single entry, plus
 * the bulk fields. Every item is checked, so the caller gets every problem at once;
 * `throwIfInvalid` throws the 400 listing each bad item as `entries[i].field: message`.
 * `defaults` fill the request and correlation ids.
 */
export class BulkValidation {
  private readonly errors: BulkItemError[] = [];
  private readonly seen = new Map<string, number>();
  private readonly floor: number;

  constructor(
    private readonly types: KnownEntityTypes,
    private readonly defaults: Pick<ActionLogContext, 'requestId' | 'correlationId'>,
    private readonly now = Date.now(),
    /** The oldest time an entry may carry: OLDEST_TIMESTAMP, or the retention period's start. */
    oldest: Date | null = null,
  ) {
    this.floor = Math.max(Date.parse(OLDEST_TIMESTAMP), oldest?.getTime() ?? -Infinity);
  }

  /** Whether some item checked so far is invalid. */
  get failed(): boolean {
    return this.errors.length > 0;
  }

  /** Checks `items[from, to)`; returns the valid ones (an invalid one is recorded instead). */
  validate(items: unknown[], from = 0, to = items.length): ValidBulkEntry[] {
    const valid: ValidBulkEntry[] = [];
    for (let index = from; index < to; index++) {
      try {
        const entry = validateItem(items[index], this.types, this.defaults, this.now, this.floor);
        const first = this.seen.get(entry.eventId);
        if (first !== undefined) {
          throw new ItemError('eventId', `eventId repeats entries[${first}].eventId`);
        }
        this.seen.set(entry.eventId, index);
        valid.push(entry);
      } catch (error) {
        if (!(error instanceof ItemError)) throw error;
        this.errors.push({ index, field: error.field, message: error.message });
      }
    }
    return valid;
  }

  /**
   * The valid `timestamp`s of `items` (an import of history may reach months that have no
   * partition yet). Invalid ones are left to `validate`.
   */
  timestamps(items: unknown[]): Date[] {
    const times: Date[] = [];
    for (const item of items) {
      const value = (item as { timestamp?: unknown } | null)?.timestamp;
      if (typeof value !== 'string') continue;
      try {
        times.push(new Date(validTimestamp(value, this.now, this.floor)!));
      } catch (error) {
        if (!(error instanceof ItemError)) throw error;
      }
    }
    return times;
  }

  /** Throws the 400 that lists every invalid item, if there is one. */
  throwIfInvalid(): void {
    if (this.errors.length) throw bulkError(this.errors);
  }
}

function bulkError(errors: BulkItemError[]): BadRequestException {
  const messages = errors
    .slice(0, MAX_REPORTED_ERRORS)
    .map((e) => `entries[${e.index}]${e.field ? `.${e.field}` : ''}: ${e.message}`);
  if (errors.length > MAX_REPORTED_ERRORS) {
    messages.push(`... and ${errors.length - MAX_REPORTED_ERRORS} more invalid entries`);
  }
  return new BadRequestException(messages);
}

function validateItem(
  item: unknown,
  types: KnownEntityTypes,
  defaults: Pick<ActionLogContext, 'requestId' | 'correlationId'>,
  now: number,
  floor: number,
): ValidBulkEntry {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    throw new ItemError(null, 'must be an object');
  }
  const input = item as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!ENTRY_FIELDS.has(key)) throw new ItemError(key, `${key} is not an entry field`);
  }
  const { eventId } = input;
  if (typeof eventId !== 'string' || !UUID.test(eventId)) {
    throw new ItemError('eventId', 'eventId must be a UUID');
  }
  // PostgreSQL cannot store NUL in text (the other text fields refuse every control character).
  for (const field of ['actorId', 'entityId']) {
    const value = input[field];
    if (typeof value === 'string' && value.includes('\u0000')) {
      throw new ItemError(field, `${field} must not contain NUL (\\u0000) characters`);
    }
  }
  const context = {} as Record<string, string | null>;
  for (const [field, rule] of Object.entries(TEXT_FIELDS)) {
    const value = input[field];
    if (value === undefined || value === null) {
      context[field] = null;
      continue;
    }
    if (
      typeof value !== 'string' ||
      value === '' ||
      value.length > rule.max ||
      CONTROL.test(value) ||
      (rule.pattern && !rule.pattern.test(value))
    ) {
      throw new ItemError(
        field,
        `${field} must be a string of 1 to ${rule.max} printable characters`,
      );
    }
    context[field] = value;
  }
  const statusCode = input.statusCode ?? null;
  if (
    statusCode !== null &&
    (typeof statusCode !== 'number' ||
      !Number.isInteger(statusCode) ||
      statusCode < 100 ||
      statusCode > 599)
  ) {
    throw new ItemError('statusCode', 'statusCode must be an integer from 100 to 599');
  }
  let entry: ValidEntry;
  try {
    entry = validateEntry(input as unknown as ActionLogInput, types);
  } catch (error) {
    if (error instanceof AuditValidationError) {
      const field = /^(\w+)/.exec(error.message)?.[1] ?? null;
      throw new ItemError(field && ENTRY_FIELDS.has(field) ? field : null, error.message);
    }
    throw error;
  }
  return {
    ...entry,
    eventId: eventId.toLowerCase(),
    timestamp: validTimestamp(input.timestamp, now, floor),
    requestId: context.requestId ?? defaults.requestId,
    correlationId: context.correlationId ?? defaults.correlationId,
    ip: context.ip,
    userAgent: context.userAgent,
    method: context.method,
    path: context.path,
    statusCode: statusCode,
  };
}

function validTimestamp(value: unknown, now: number, floor: number): string | null {
  if (value === undefined || value === null) return null;
  const ms = typeof value === 'string' && ISO.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms) || !realDate(value as string) || ms > now) {
    throw new ItemError(
      'timestamp',
      `timestamp must be an ISO-8601 instant in the past, not before ${OLDEST_TIMESTAMP}`,
    );
  }
  if (ms < floor) {
    throw new ItemError(
      'timestamp',
      floor === Date.parse(OLDEST_TIMESTAMP)
        ? `timestamp must be an ISO-8601 instant in the past, not before ${OLDEST_TIMESTAMP}`
        : `timestamp must not be before ${new Date(floor).toISOString()}: older entries are past the retention period (AUDIT_RETENTION_DAYS)`,
    );
  }
  return value as string;
}

/** Date.parse takes 30 February (it rolls over); PostgreSQL does not. */
function realDate(iso: string): boolean {
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}
