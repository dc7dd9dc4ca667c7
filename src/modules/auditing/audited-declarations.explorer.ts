import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ApplicationConfig, DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { Audited, AuditedRead, type AuditedOptions } from './audited.decorator';
import { AuditedRoutes } from './audited-routes';
import { auditedEntityTypes } from './capture/change-capture';
import { EntityTypeRegistry } from './entity-type.registry';
import { AuditedExecution } from './write/audited-execution';

/**
 * One scan at bootstrap over every controller and provider for `@Audited` declarations:
 * - each declared entity type (and each `@AuditedEntity`) is registered, so a new module's
 *   type needs no other change anywhere;
 * - each audited method of a singleton provider (services, engines, jobs) is replaced on the
 *   instance by a wrapper that runs it through `AuditedExecution` (per application instance,
 *   so two apps in one process never share a transaction host). Controllers are audited by
 *   the interceptor instead. Request-scoped and transient providers have no shared instance
 *   to wrap: `@Audited` on them fails at bootstrap rather than silently auditing nothing;
 * - each audited route (`@Audited` or `@AuditedRead`) is noted by method and path, so a
 *   rejected attempt can be told apart from one on an unaudited route (see `AuditedRoutes`).
 */
@Injectable()
export class AuditedDeclarationsExplorer implements OnModuleInit {
  private readonly logger = new Logger('EntityTypeRegistry');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly registry: EntityTypeRegistry,
    private readonly execution: AuditedExecution,
    private readonly routes: AuditedRoutes,
    private readonly appConfig: ApplicationConfig,
  ) {}

  onModuleInit(): void {
    for (const type of auditedEntityTypes) this.registry.register(type, '@AuditedEntity');
    for (const wrapper of this.discovery.getControllers()) this.explore(wrapper, false);
    for (const wrapper of this.discovery.getProviders()) this.explore(wrapper, true);
    this.logger.log(`Audited entity types: ${this.registry.list().join(', ')}`);
  }

  private explore(wrapper: InstanceWrapper, wrapMethods: boolean): void {
    const metatype = wrapper.metatype as { prototype?: unknown; name?: string } | null;
    const prototype = metatype?.prototype as Record<string, unknown> | undefined;
    if (!metatype || !prototype || typeof prototype !== 'object') return;
    const classOptions = this.reflector.get(Audited, metatype as () => unknown);
    if (classOptions) this.registry.register(classOptions.entity, String(wrapper.name));
    for (const name of this.scanner.getAllMethodNames(prototype)) {
      const method = prototype[name];
      if (typeof method !== 'function') continue;
      if (!wrapMethods) this.noteRoute(metatype as () => unknown, method as () => unknown);
      const options = this.reflector.get(Audited, method as () => unknown);
      if (!options) continue;
      this.registry.register(options.entity, `${String(wrapper.name)}.${name}`);
      if (wrapMethods) this.wrap(wrapper, name, method as Method, options);
    }
  }

  private noteRoute(controller: () => unknown, handler: () => unknown): void {
    const verb: unknown = Reflect.getMetadata(METHOD_METADATA, handler);
    if (typeof verb !== 'number') return; // not a route handler
    const targets = [handler, controller];
    const options = this.reflector.getAllAndOverride(Audited, targets);
    const read = options ? undefined : this.reflector.getAllAndOverride(AuditedRead, targets);
    if (!options && !read) return;
    const asList = (p: unknown): string[] =>
      (Array.isArray(p) ? p : [p]).map((x) => (typeof x === 'string' ? x : ''));
    const prefix = this.appConfig.getGlobalPrefix();
    const paths = asList(Reflect.getMetadata(PATH_METADATA, controller)).flatMap((c) =>
      asList(Reflect.getMetadata(PATH_METADATA, handler)).map((m) => `${prefix}/${c}/${m}`),
    );
    this.routes.register(verb, paths, {
      options: options ?? read,
      background: !options,
    });
  }

  private wrap(wrapper: InstanceWrapper, name: string, method: Method, options: AuditedOptions) {
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
    const audited = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      return execution.run(options, { params: {}, body: undefined, query: undefined, args }, () =>
        method.apply(this, args),
      );
    };
    // Nest reads route and guard metadata from the method: the wrapper must carry it.
    for (const key of Reflect.getMetadataKeys(method)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, method), audited);
    }
    Object.defineProperty(audited, 'name', { value: name });
    (instance as Record<string, unknown>)[name] = audited;
    this.logger.debug(`Audited provider method ${wrapper.name}.${name}`);
  }
}

type Method = (...args: unknown[]) => Promise<unknown>;
