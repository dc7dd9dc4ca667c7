import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { Audited } from './audited.decorator';
import { AuditedExecution } from './audited-execution';

/**
 * Makes `@Audited` work on provider methods (services, engines, jobs), not only on
 * controllers: at bootstrap each such method of a singleton provider is replaced on the
 * instance by a wrapper that runs it through `AuditedExecution` (per application instance,
 * so two apps in one process never share a transaction host). Called from an audited request
 * it joins its transaction and actor; called from a background job its actor is `system`.
 * Request-scoped and transient providers get no shared instance to wrap: declaring
 * `@Audited` on them fails at bootstrap rather than silently auditing nothing.
 */
@Injectable()
export class AuditedMethodsExplorer implements OnModuleInit {
  private readonly logger = new Logger(AuditedMethodsExplorer.name);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly execution: AuditedExecution,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const metatype = wrapper.metatype as { prototype?: unknown } | null | undefined;
      const prototype = metatype?.prototype as Record<string, unknown> | undefined;
      if (!prototype || typeof prototype !== 'object') continue;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const original = prototype[name];
        if (typeof original !== 'function') continue;
        const options = this.reflector.get(Audited, original as () => unknown);
        if (!options) continue;
        const instance: unknown = wrapper.instance;
        if (
          wrapper.isTransient ||
          !wrapper.isDependencyTreeStatic() ||
          !instance ||
          typeof instance !== 'object'
        ) {
          throw new Error(
            `@Audited on ${wrapper.name}.${name}: only singleton providers can have audited methods ` +
              `(this one is request-scoped or transient)`,
          );
        }
        const execution = this.execution;
        const method = original as (...args: unknown[]) => Promise<unknown>;
        const audited = function (this: unknown, ...args: unknown[]): Promise<unknown> {
          return execution.run(
            options,
            { params: {}, body: undefined, query: undefined, args },
            () => method.apply(this, args),
          );
        };
        for (const key of Reflect.getMetadataKeys(original)) {
          Reflect.defineMetadata(key, Reflect.getMetadata(key, original), audited);
        }
        Object.defineProperty(audited, 'name', { value: name });
        (instance as Record<string, unknown>)[name] = audited;
        this.logger.debug(`Audited provider method ${wrapper.name}.${name}`);
      }
    }
  }
}
