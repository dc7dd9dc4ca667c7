import { Reflector } from '@nestjs/core';
import type { ActionType, AuditDetails } from './audit.types';

/** What an `@Audited` declaration's functions see. */
export interface AuditContext<TResult = unknown> {
  /** Route params (`:id` …); empty outside HTTP. */
  params: Record<string, string | undefined>;
  body: unknown;
  query: unknown;
  /** The method's arguments (provider methods; empty for controller handlers). */
  args: unknown[];
  /** The handler's return value. */
  result: TResult;
}

// `any` by default so a declaration can read its handler's result without a cast.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface AuditedOptions<TResult = any> {
  action: ActionType;
  /** The entity type, e.g. `INVOICE`: it registers itself at bootstrap. */
  entity: string;
  /** Default: `result.id` for CREATE, the `:id` route param otherwise. */
  entityId?: (ctx: AuditContext<TResult>) => string | number | null | undefined;
  /** Default: the result for CREATE, none otherwise. Redacted before storage. */
  details?: (ctx: AuditContext<TResult>) => AuditDetails | null | undefined;
  /** Default: the request's correlation id. E.g. a workflow run's own, so a run's story shares one. */
  correlationId?: (ctx: AuditContext<TResult>) => string | null | undefined;
}

/**
 * Marks a controller method (or a whole controller), or a provider method, as audited. The
 * code runs in one database transaction; after it succeeds the action-log entry is written in
 * that same transaction. Code that throws commits nothing and writes no entry in it (an HTTP
 * request's failed or denied attempt is recorded afterwards, see `AuditRejections`). Provider
 * methods called outside a request are audited with actor `system` and no request metadata.
 *
 * @example
 * \@Post()
 * \@Audited({ action: 'CREATE', entity: 'INVOICE' })
 * create(@Body() dto: CreateInvoiceDto) { return this.invoices.create(dto); }
 */
export const Audited = Reflector.createDecorator<AuditedOptions>();

/**
 * Audits a read route (or a controller of them) without a transaction: after the handler
 * succeeds, its entry is queued and written in the background within a second, batched with
 * others (see `AuditBackgroundQueue`); a rejected attempt is recorded like one of an
 * `@Audited` route. For frequent reads (searches of the audit trail) that must keep their
 * throughput. Same options as `@Audited`.
 */
export const AuditedRead = Reflector.createDecorator<AuditedOptions>();
