import { Injectable } from '@nestjs/common';
import {
  DataSource,
  type EntitySubscriberInterface,
  type InsertEvent,
  type ObjectLiteral,
  type RemoveEvent,
  type UpdateEvent,
} from 'typeorm';
import { isDeepStrictEqual } from 'node:util';
import {
  auditedEntityType,
  capture,
  sameValue,
  secretValueProperties,
  type ChangeSet,
} from './change-capture';
import { REDACTED } from './redaction';

/**
 * The general change-capture mechanism: a TypeORM subscriber that records inserts, updates
 * (before → after, exactly the changed fields) and removals of `@AuditedEntity` classes into
 * the current transaction, for the audit interceptor to turn into entries. Timestamps kept
 * by TypeORM (`@CreateDateColumn`, `@UpdateDateColumn`, `@VersionColumn`) are not changes.
 */
@Injectable()
export class AuditSubscriber implements EntitySubscriberInterface {
  constructor(dataSource: DataSource) {
    dataSource.subscribers.push(this);
  }

  afterInsert(event: InsertEvent<ObjectLiteral>): void {
    const entityType = auditedEntityType(event.metadata.target);
    if (!entityType) return;
    const id = event.metadata.getEntityIdMixedMap(event.entity);
    capture(event.queryRunner, {
      action: 'CREATE',
      entityType,
      entityId: idOf(id),
      snapshot: snapshot(event.metadata.target, event.entity),
    });
  }

  afterUpdate(event: UpdateEvent<ObjectLiteral>): void {
    const entityType = auditedEntityType(event.metadata.target);
    if (!entityType || !event.entity) return;
    const before = event.databaseEntity ?? {};
    const after = event.entity;
    const changes: ChangeSet = {};
    const secret = secretValueProperties(event.metadata.target);
    for (const column of event.updatedColumns) {
      if (column.isCreateDate || column.isUpdateDate || column.isVersion) continue;
      if (secret.includes(column.propertyName)) {
        // In stored form (after the column's transformer): the values may be sealed objects
        // whose JSON is "[REDACTED]" whatever they hold.
        const diff = secretKeysDiff(
          column.getEntityValue(before, true),
          column.getEntityValue(after, true),
        );
        if (diff) changes[column.propertyName] = diff;
        continue;
      }
      const from = column.getEntityValue(before) as unknown;
      const to = column.getEntityValue(after) as unknown;
      if (!sameValue(from, to)) changes[column.propertyName] = { from: plain(from), to: plain(to) };
    }
    capture(event.queryRunner, {
      action: 'UPDATE',
      entityType,
      entityId: idOf(event.metadata.getEntityIdMixedMap({ ...before, ...after })),
      snapshot: snapshot(event.metadata.target, after),
      changes,
    });
  }

  afterRemove(event: RemoveEvent<ObjectLiteral>): void {
    const entityType = auditedEntityType(event.metadata.target);
    if (!entityType) return;
    const removed: ObjectLiteral = { ...(event.databaseEntity ?? {}), ...(event.entity ?? {}) };
    const id: unknown = event.entityId ?? event.metadata.getEntityIdMixedMap(removed);
    capture(event.queryRunner, {
      action: 'DELETE',
      entityType,
      entityId: idOf(id),
      snapshot: snapshot(event.metadata.target, {
        ...removed,
        ...event.metadata.getEntityIdMap(event.databaseEntity ?? removed),
      }),
    });
  }
}

function idOf(id: unknown): string {
  if (id !== null && typeof id === 'object') return JSON.stringify(id);
  return String(id);
}

/** A JSON-safe copy (Dates as ISO strings, class instances as plain objects). */
function plain<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** A JSON-safe copy of an entity whose `@SecretValues` maps keep their keys only. */
function snapshot(target: unknown, entity: ObjectLiteral): Record<string, unknown> {
  const copy = plain(entity) as Record<string, unknown>;
  for (const property of secretValueProperties(target)) {
    const map = copy[property];
    if (map !== null && typeof map === 'object' && !Array.isArray(map))
      copy[property] = Object.fromEntries(Object.keys(map).map((key) => [key, REDACTED]));
    else if (map !== null && map !== undefined) copy[property] = REDACTED;
  }
  return copy;
}

/** The keys of a secret map whose value changed (added, replaced, removed); null if none. */
function secretKeysDiff(before: unknown, after: unknown): ChangeSet[string] | null {
  const isMap = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isMap(before) || !isMap(after))
    return isDeepStrictEqual(before, after) ? null : { from: REDACTED, to: REDACTED };
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => !isDeepStrictEqual(before[key], after[key]))
    .sort();
  if (changed.length === 0) return null;
  const keys = (map: Record<string, unknown>) =>
    Object.fromEntries(changed.filter((k) => Object.hasOwn(map, k)).map((k) => [k, REDACTED]));
  return { from: keys(before), to: keys(after) };
}
