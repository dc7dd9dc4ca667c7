import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { API_PREFIX } from '@/bootstrap';
import { Audited, AuditedRead } from '@/modules/auditing';
import { accessRuleOf, type AccessRule } from '@/modules/identity';

export interface RouteInfo {
  /** `GET /api/v1/mcp-definitions/:id` */
  key: string;
  controller: string;
  method: string;
  path: string;
  rule: AccessRule | undefined;
  /** `@Audited` or `@AuditedRead`: a refused call is on the record (DENIED). */
  audited: boolean;
}

const join = (...parts: string[]): string =>
  `/${parts
    .flatMap((p) => p.split('/'))
    .filter(Boolean)
    .join('/')}`;

/** Every route the application registers, with the access rule the guard will apply. */
export function listRoutes(app: NestFastifyApplication): RouteInfo[] {
  const discovery = app.get(DiscoveryService, { strict: false });
  const reflector = app.get(Reflector, { strict: false });
  const scanner = new MetadataScanner();
  const routes: RouteInfo[] = [];
  for (const wrapper of discovery.getControllers()) {
    const { instance, metatype } = wrapper;
    if (!instance || !metatype) continue;
    const controllerPaths = [Reflect.getMetadata(PATH_METADATA, metatype) as string | string[]]
      .flat()
      .filter((p) => p !== undefined);
    const proto = Object.getPrototypeOf(instance) as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(proto)) {
      const handler = proto[name] as (...args: unknown[]) => unknown;
      const verb = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (verb === undefined) continue;
      const method = RequestMethod[verb];
      const methodPaths = [Reflect.getMetadata(PATH_METADATA, handler) as string | string[]].flat();
      for (const c of controllerPaths.length ? controllerPaths : ['']) {
        for (const m of methodPaths) {
          const path = join(API_PREFIX, c, m ?? '');
          routes.push({
            key: `${method} ${path}`,
            controller: metatype.name,
            method,
            path,
            rule: accessRuleOf(reflector, handler, metatype),
            audited: [Audited, AuditedRead].some(
              (d) => reflector.getAllAndOverride(d, [handler, metatype]) !== undefined,
            ),
          });
        }
      }
    }
  }
  return routes;
}
