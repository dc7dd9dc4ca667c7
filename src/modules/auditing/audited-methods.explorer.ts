import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { Audited } from './audited.decorator';
import { AuditedExecution } from './audited-execution';

/**
 * Makes `@Audited` work on provider methods (services, engines, jobs), not only on
 * controllers: at bootstrap every such method is wrapped so that it runs through
 * `AuditedExecution`. Called from an audited request it joins its transaction and actor;
 * called from a background job its actor is `system`. Reflect metadata of the original
 * method is copied to the wrapper.
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
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const original = prototype[name];
        if (typeof original !== 'function') continue;
        const options = this.reflector.get(Audited, original as () => unknown);
        if (!options) continue;
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
