import { Injectable } from '@nestjs/common';
import { BUILT_IN_ENTITY_TYPES, ENTITY_TYPE_PATTERN } from './audit.types';

/**
 * The entity types the action log accepts: the built-in ones plus every type named by an
 * `@Audited` or `@AuditedEntity` declaration anywhere in the application, registered at
 * bootstrap by `AuditedDeclarationsExplorer`. A new module adds its type with the decorator.
 */
@Injectable()
export class EntityTypeRegistry {
  private readonly types = new Set<string>(BUILT_IN_ENTITY_TYPES);

  register(entityType: string, declaredBy = 'code'): void {
    if (!ENTITY_TYPE_PATTERN.test(entityType)) {
      throw new Error(
        `@Audited entity "${entityType}" on ${declaredBy} must match ${String(ENTITY_TYPE_PATTERN)}`,
      );
    }
    this.types.add(entityType);
  }

  has(entityType: string): boolean {
    return this.types.has(entityType);
  }

  list(): string[] {
    return [...this.types].sort();
  }
}
