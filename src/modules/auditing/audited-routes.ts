import { Injectable, RequestMethod } from '@nestjs/common';
import type { AuditedOptions } from './audited.decorator';

/** An audited route: its declaration, and whether it is audited in the background. */
export interface AuditedRoute {
  options: AuditedOptions;
  background: boolean;
}

function normalize(path: string): string {
  const trimmed = path.split('/').filter(Boolean).join('/');
  return `/${trimmed}`;
}

/**
 * The audited HTTP routes by method and path pattern (`GET /api/v1/action-logs/:id`), filled
 * by the bootstrap scan. The exception filter's host names no handler (Nest passes a bare
 * ExecutionContextHost to filters), and a 401/403 raised by a guard never reaches the audit
 * interceptor: the route pattern Fastify matched (`request.routeOptions.url`) is what still
 * says which declaration a rejected attempt was aimed at.
 */
@Injectable()
export class AuditedRoutes {
  private readonly routes = new Map<string, AuditedRoute>();

  register(method: RequestMethod, paths: string[], route: AuditedRoute): void {
    const name = method === RequestMethod.ALL ? '*' : RequestMethod[method];
    for (const path of paths) this.routes.set(`${name} ${normalize(path)}`, route);
  }

  find(method: string, pattern: string | undefined): AuditedRoute | undefined {
    if (pattern === undefined) return undefined;
    const path = normalize(pattern);
    return this.routes.get(`${method.toUpperCase()} ${path}`) ?? this.routes.get(`* ${path}`);
  }
}
