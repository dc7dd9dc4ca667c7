import { Injectable } from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import { ForbiddenError } from '@/common';
import { SYSTEM_ACTOR, type RequestContext } from '@/common/context/request-context';
import type { Role } from '@/modules/identity';

const ADMIN: Role = 'admin';

/**
 * A stdio definition names a command the service runs on its host, so creating or changing
 * one is an admin's power, beyond the `editor` role the routes require. The service's own
 * jobs (no request, actor `system`) are not callers and pass.
 */
@Injectable()
export class StdioPolicy {
  constructor(private readonly cls: ClsService<RequestContext>) {}

  /** Throws 403 unless the caller may create or change the stdio definitions `names`. */
  assertMayManage(names: readonly string[]): void {
    if (names.length === 0 || this.isAdmin() || !this.cls.isActive()) return;
    if (this.cls.get('actorId') === SYSTEM_ACTOR) return;
    throw new ForbiddenError(
      `role admin required to create or change a stdio definition (it runs a command on the host): ${names.join(', ')}`,
    );
  }

  isAdmin(): boolean {
    return this.cls.isActive() && (this.cls.get('actorRoles') ?? []).includes(ADMIN);
  }
}
