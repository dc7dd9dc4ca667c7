import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { Audited } from './audited.decorator';
import { BUILT_IN_ENTITY_TYPES, ENTITY_TYPE_PATTERN } from './audit.types';
import { auditedEntityTypes } from './change-capture';

/**
 * The entity types the action log accepts: the built-in ones plus every type named by an
 * `@Audited` declaration anywhere in the application, collected at bootstrap. A new module
 * adds its type with the decorator alone.
 */
@Injectable()
export class EntityTypeRegistry implements OnModuleInit {
  private readonly logger = new Logger(EntityTypeRegistry.name);
  private readonly types = new Set<string>(BUILT_IN_ENTITY_TYPES);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    for (const type of auditedEntityTypes) this.register(type, '@AuditedEntity');
    for (const wrapper of [...this.discovery.getControllers(), ...this.discovery.getProviders()]) {
      const metatype = wrapper.metatype;
      const instance: unknown = wrapper.instance;
      if (!metatype || !instance || typeof instance !== 'object') continue;
      const classOptions = this.reflector.get(Audited, metatype);
      if (classOptions) this.register(classOptions.entity, metatype.name);
      const prototype = Object.getPrototypeOf(instance) as object;
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const handler = (prototype as Record<string, unknown>)[method];
        if (typeof handler !== 'function') continue;
        const options = this.reflector.get(Audited, handler as () => unknown);
        if (options) this.register(options.entity, `${metatype.name}.${method}`);
      }
    }
    this.logger.log(`Audited entity types: ${[...this.types].sort().join(', ')}`);
  }

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
