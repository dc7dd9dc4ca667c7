import {
  Injectable,
  Logger,
  type ArgumentsHost,
  type ExecutionContext,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ClsService } from 'nestjs-cls';
import { SYSTEM_ACTOR, type RequestContext } from '@/common/context/request-context';
import type { ErrorBody, HttpErrorObserver } from '@/common/errors/http-error-observer';
import { serializeError } from '@/common/logging/logging.module';
import { PeriodicTask } from '@/common/periodic-task';
import type { Env } from '@/config/env';
import { Audited, AuditedRead, type AuditContext, type AuditedOptions } from '../audited.decorator';
import {
  UNKNOWN_ENTITY_ID,
  type ActionLogContext,
  type ActionType,
  type AuditDetails,
  type Outcome,
} from '../audit.types';
import { AuditedRoutes } from '../audited-routes';
import { EntityTypeRegistry } from '../entity-type.registry';
import { actorRolesOf, auditContextOf } from './audit-context';
import { AuditBackgroundQueue } from './audit-background.queue';
import { validateEntry } from './audit-entry.validator';

/** The flood window: rejected attempts are counted per (ip, actor) per minute. */
export const REJECTION_WINDOW_MS = 60_000;
/** How often closed windows are summarised. */
const SWEEP_MS = 5_000;
/** Refused before the handler ran: unauthenticated, or not allowed. */
const DENIED_STATUSES = new Set([401, 403]);
/** A reason or message is kept to this length: an auditor needs the gist, not an essay. */
const MAX_TEXT = 256;

/** Suppressed attempts of one kind (outcome, action, entity) in one window. */
interface Suppressed {
  count: number;
  outcome: Outcome;
  actionType: ActionType;
  entityType: string;
  actorId: string;
  actorRoles: string[];
  context: ActionLogContext;
  statusCodes: Record<string, number>;
  first: string;
  last: string;
}

interface Window {
  startedAt: number;
  admitted: number;
  suppressed: Map<string, Suppressed>;
}

/**
 * Records attempts on audited routes that did not succeed, as entries of their own:
 * `DENIED` for 401/403 (details `{ reason }`), `FAILURE` for every other error (details
 * `{ statusCode, error, message }`); the request's change has already rolled back. Written in
 * the background (after the rollback, in a short transaction of their own, batched), so the
 * error response never waits for them and never fails because of them.
 *
 * Flood-safe: at most `AUDIT_REJECTED_MAX_PER_MINUTE` entries per (ip, actor) per window;
 * the rest are counted, and when the window closes each kind of suppressed attempt becomes
 * one entry `{ suppressed: n, … }`. Nothing is dropped silently; the log grows by a bounded
 * number of entries per (ip, actor) and minute.
 */
@Injectable()
export class AuditRejections
  implements HttpErrorObserver, OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger('AuditRejections');
  private readonly maxPerWindow: number;
  private readonly windows = new Map<string, Window>();
  private readonly task = new PeriodicTask(() => Promise.resolve(this.closeWindows()), SWEEP_MS);

  constructor(
    private readonly reflector: Reflector,
    private readonly cls: ClsService<RequestContext>,
    private readonly registry: EntityTypeRegistry,
    private readonly queue: AuditBackgroundQueue,
    private readonly routes: AuditedRoutes,
    config: ConfigService<Env, true>,
  ) {
    this.maxPerWindow = config.get('AUDIT_REJECTED_MAX_PER_MINUTE', { infer: true });
    // At shutdown the open windows are summarised before the queue's last flush.
    queue.beforeFinalFlush(() => this.closeWindows(Number.POSITIVE_INFINITY));
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  observe(_exception: unknown, body: ErrorBody, host: ArgumentsHost): void {
    try {
      this.record(body, host);
    } catch (error) {
      this.logger.error(
        { err: serializeError(error), requestId: body.requestId, statusCode: body.statusCode },
        'A rejected attempt could not be recorded',
      );
    }
  }

  /**
   * Summarises the windows that have closed by `now` (all of them with `Infinity`) into the
   * background queue. Returns how many summary entries it queued.
   */
  closeWindows(now: number = Date.now()): number {
    let queued = 0;
    for (const [key, window] of this.windows) {
      if (window.startedAt + REJECTION_WINDOW_MS > now) continue;
      this.windows.delete(key);
      for (const s of window.suppressed.values()) {
        this.enqueue(
          {
            actorId: s.actorId,
            actorRoles: s.actorRoles,
            outcome: s.outcome,
            actionType: s.actionType,
            entityType: s.entityType,
            entityId: UNKNOWN_ENTITY_ID,
            details: {
              suppressed: s.count,
              statusCodes: s.statusCodes,
              first: s.first,
              last: s.last,
            },
          },
          s.context,
          s.last, // a summary is as of the last attempt it counts
        );
        queued++;
      }
    }
    return queued;
  }

  private record(body: ErrorBody, host: ArgumentsHost): void {
    if (host.getType() !== 'http' || !this.cls.isActive()) return;
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    const options = this.declarationOf(host, request);
    if (!options) return; // an unaudited route, or none (unknown path, body parser…)

    const status = body.statusCode;
    const denied = DENIED_STATUSES.has(status);
    const outcome: Outcome = denied ? 'DENIED' : 'FAILURE';
    const actorId = this.cls.get('actorId') ?? SYSTEM_ACTOR;
    const actorRoles = actorRolesOf(this.cls);
    const context = { ...auditContextOf(this.cls), statusCode: status };

    const key = `${context.ip ?? ''}\u0000${actorId}`;
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window) {
      window = { startedAt: now, admitted: 0, suppressed: new Map() };
      this.windows.set(key, window);
    }
    if (window.admitted >= this.maxPerWindow) {
      this.suppress(window, { outcome, options, actorId, actorRoles, context, status, now });
      return;
    }
    window.admitted++;

    const ctx: AuditContext = {
      params: (request.params ?? {}) as Record<string, string | undefined>,
      body: request.body,
      query: request.query,
      args: [],
      result: undefined,
    };
    const message = Array.isArray(body.message) ? body.message.join('; ') : body.message;
    const details: AuditDetails = denied
      ? { reason: withoutCredentials(clip(message), request) }
      : {
          statusCode: status,
          error: body.error,
          message: withoutCredentials(clip(message), request),
        };
    this.enqueue(
      {
        actorId,
        actorRoles,
        outcome,
        actionType: options.action,
        entityType: options.entity,
        entityId: attemptedEntityId(options, ctx),
        details,
      },
      context,
    );
  }

  /** The handler's declaration when the host names it, else the matched route's. */
  private declarationOf(host: ArgumentsHost, request: FastifyRequest): AuditedOptions | undefined {
    const route = host as Partial<ExecutionContext>;
    const handler = route.getHandler?.();
    const controller = route.getClass?.();
    if (handler && controller) {
      const targets = [handler, controller];
      return (
        this.reflector.getAllAndOverride(Audited, targets) ??
        this.reflector.getAllAndOverride(AuditedRead, targets)
      );
    }
    const pattern = (request.routeOptions as { url?: string } | undefined)?.url;
    return this.routes.find(request.method, pattern)?.options;
  }

  private suppress(
    window: Window,
    a: {
      outcome: Outcome;
      options: AuditedOptions;
      actorId: string;
      actorRoles: string[];
      context: ActionLogContext;
      status: number;
      now: number;
    },
  ): void {
    const kind = `${a.outcome} ${a.options.action} ${a.options.entity}`;
    const at = new Date(a.now).toISOString();
    let s = window.suppressed.get(kind);
    if (!s) {
      s = {
        count: 0,
        outcome: a.outcome,
        actionType: a.options.action,
        entityType: a.options.entity,
        actorId: a.actorId,
        actorRoles: a.actorRoles,
        // The first suppressed attempt's request stands for the rest (ip, path, method…).
        context: { ...a.context, statusCode: null },
        statusCodes: {},
        first: at,
        last: at,
      };
      window.suppressed.set(kind, s);
    }
    s.count++;
    s.last = at;
    s.statusCodes[a.status] = (s.statusCodes[a.status] ?? 0) + 1;
  }

  private enqueue(
    input: Parameters<typeof validateEntry>[0],
    context: ActionLogContext,
    occurredAt: string = new Date().toISOString(),
  ): void {
    this.queue.enqueue({ entry: validateEntry(input, this.registry), context, occurredAt });
  }
}

/**
 * The entity a rejected attempt aimed at: the declaration's own `entityId` when it can name
 * it without a result, else the `:id` route param (not for CREATE: there it names the parent,
 * e.g. the definition of a new version), else `-` (`UNKNOWN_ENTITY_ID`).
 */
export function attemptedEntityId(options: AuditedOptions, ctx: AuditContext): string {
  if (options.entityId) {
    try {
      const id = options.entityId(ctx);
      if ((typeof id === 'string' && id.trim() !== '') || typeof id === 'number') return String(id);
    } catch {
      // It needs the result, which a failed attempt does not have.
    }
  }
  const param = options.action === 'CREATE' ? undefined : ctx.params.id;
  return param && param.trim() !== '' ? param.slice(0, 256) : UNKNOWN_ENTITY_ID;
}

function clip(text: string | undefined): string {
  const t = text ?? '';
  return t.length > MAX_TEXT ? `${t.slice(0, MAX_TEXT - 1)}…` : t;
}

/**
 * Belt and braces: a reason never carries the caller's credentials, even if a guard put them
 * in its message by mistake.
 */
function withoutCredentials(text: string, request: FastifyRequest): string {
  let out = text;
  for (const header of [request.headers.authorization, request.headers.cookie]) {
    if (typeof header !== 'string') continue;
    for (const secret of [header, header.replace(/^\S+\s+/, '')]) {
      if (secret.length >= 8) out = out.split(secret).join('[REDACTED]');
    }
  }
  return out;
}
