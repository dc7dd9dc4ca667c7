import type { QueryRunner } from 'typeorm';
import type { ActionType } from '../audit.types';

const AUDITED_ENTITY = Symbol('auditedEntity');
const CHANGES = 'mcp:auditChanges';

/** Field-level diff: exactly the fields that changed. */
export type ChangeSet = Record<string, { from: unknown; to: unknown }>;

/** One change to an audited entity seen in the current transaction. */
export interface CapturedChange {
  action: Extract<ActionType, 'CREATE' | 'UPDATE' | 'DELETE'>;
  entityType: string;
  entityId: string;
  /** CREATE: the created row; DELETE: the removed row; UPDATE: the row after. */
  snapshot: Record<string, unknown>;
  /** UPDATE only. */
  changes?: ChangeSet;
}

/**
 * Marks a TypeORM entity class as audited under `entityType`: its inserts, updates and
 * removals made through `save()` / `remove()` inside an audited request are captured (with
 * before/after for updates) and become action-log entries. The entity type registers itself.
 *
 * @example
 * \@AuditedEntity('INVOICE')
 * \@Entity() export class Invoice { ... }
 */
export function AuditedEntity(entityType: string): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(AUDITED_ENTITY, entityType, target);
    auditedEntityTypes.add(entityType);
  };
}

const SECRET_VALUES = Symbol('secretValues');

/**
 * Marks a property of an `@AuditedEntity` as a map whose values are secrets (an MCP
 * definition's `env`): the audit trail names the keys, never the values. An UPDATE's diff
 * lists exactly the keys whose value changed — `{ from: { TOKEN: "[REDACTED]" }, to: {
 * TOKEN: "[REDACTED]", NEW: "[REDACTED]" } }` (a key only in `to` was added, only in `from`
 * removed) — compared in stored form, so the column may hold sealed values.
 *
 * @example
 * \@SecretValues()
 * \@Column({ type: 'jsonb' }) env: Record<string, string>;
 */
export function SecretValues(): PropertyDecorator {
  return (target, property) => {
    const names = secretValueProperties(target.constructor);
    Reflect.defineMetadata(SECRET_VALUES, [...names, String(property)], target.constructor);
  };
}

export function secretValueProperties(target: unknown): readonly string[] {
  return typeof target === 'function'
    ? ((Reflect.getMetadata(SECRET_VALUES, target) as string[] | undefined) ?? [])
    : [];
}

/** Every type declared with `@AuditedEntity` (read by the registry at bootstrap). */
export const auditedEntityTypes = new Set<string>();

export function auditedEntityType(target: unknown): string | undefined {
  return typeof target === 'function'
    ? (Reflect.getMetadata(AUDITED_ENTITY, target) as string | undefined)
    : undefined;
}

/**
 * Starts collecting changes for one audited execution in the transaction of `runner`, and
 * returns the collection of the enclosing one (audited code calling audited code shares the
 * transaction). Pair with `endCapture`.
 */
export function beginCapture(runner: QueryRunner): CapturedChange[] | undefined {
  const outer = runner.data?.[CHANGES] as CapturedChange[] | undefined;
  runner.data = { ...runner.data, [CHANGES]: [] };
  return outer;
}

/**
 * Restores the enclosing collection. Whatever the inner execution captured but did not write
 * (it threw, and its caller went on) is handed to the enclosing one, so it is still audited.
 */
export function endCapture(runner: QueryRunner, outer: CapturedChange[] | undefined): void {
  const inner = (runner.data?.[CHANGES] as CapturedChange[] | undefined) ?? [];
  if (outer) {
    outer.push(...inner);
    runner.data = { ...runner.data, [CHANGES]: outer };
  } else {
    delete (runner.data as Record<string, unknown>)[CHANGES];
  }
}

export function capture(runner: QueryRunner | undefined, change: CapturedChange): void {
  const list = runner?.data?.[CHANGES] as CapturedChange[] | undefined;
  list?.push(change);
}

/** Takes (and clears) what was captured in the transaction of `runner`. */
export function takeCaptured(runner: QueryRunner | undefined): CapturedChange[] {
  const list = runner?.data?.[CHANGES] as CapturedChange[] | undefined;
  if (!list) return [];
  return list.splice(0, list.length);
}

/**
 * Folds the changes of one entity in one transaction into one: successive updates keep the
 * first `from` and the last `to` (fields that end where they started drop out); a create
 * followed by updates stays a create of the final state.
 */
export function foldChanges(changes: CapturedChange[]): CapturedChange[] {
  const byEntity = new Map<string, CapturedChange>();
  for (const change of changes) {
    const key = `${change.entityType}\u0000${change.entityId}`;
    const prior = byEntity.get(key);
    if (!prior) {
      byEntity.set(key, { ...change, changes: change.changes && { ...change.changes } });
      continue;
    }
    if (change.action === 'DELETE') {
      if (prior.action === 'CREATE') byEntity.delete(key);
      else byEntity.set(key, change);
      continue;
    }
    prior.snapshot = change.snapshot;
    if (prior.action === 'UPDATE' && change.changes) {
      for (const [field, diff] of Object.entries(change.changes)) {
        const from = prior.changes?.[field] ? prior.changes[field].from : diff.from;
        prior.changes = { ...prior.changes, [field]: { from, to: diff.to } };
        if (sameValue(from, diff.to)) delete prior.changes[field];
      }
    }
  }
  return [...byEntity.values()];
}

export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
