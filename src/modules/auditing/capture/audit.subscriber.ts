import { Injectable } from '@nestjs/common';
import {
  DataSource,
  type EntitySubscriberInterface,
  type InsertEvent,
  type ObjectLiteral,
  type RemoveEvent,
  type UpdateEvent,
} from 'typeorm';
import { auditedEntityType, capture, sameValue, type ChangeSet } from './change-capture';

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
      snapshot: plain(event.entity),
    });
  }

  afterUpdate(event: UpdateEvent<ObjectLiteral>): void {
    const entityType = auditedEntityType(event.metadata.target);
    if (!entityType || !event.entity) return;
    const before = event.databaseEntity ?? {};
    const after = event.entity;
    const changes: ChangeSet = {};
    for (const column of event.updatedColumns) {
      if (column.isCreateDate || column.isUpdateDate || column.isVersion) continue;
      const from = column.getEntityValue(before) as unknown;
      const to = column.getEntityValue(after) as unknown;
      if (!sameValue(from, to)) changes[column.propertyName] = { from: plain(from), to: plain(to) };
    }
    capture(event.queryRunner, {
      action: 'UPDATE',
      entityType,
      entityId: idOf(event.metadata.getEntityIdMixedMap({ ...before, ...after })),
      snapshot: plain(after),
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
      snapshot: plain({
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
