import { Injectable, Logger } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { serializeError } from '@/common/logging/logging.module';
import { AuditOutboxService } from './write/audit-outbox.service';

/**
 * `auditing` in GET /health: `down` while entries cannot be written at all (fail-closed, or
 * even the outbox fails: changes roll back) or the backlog cannot be read; `degraded` while
 * entries wait in the outbox. Counts and states only: the public answer carries no error
 * text (it can name database internals); `AuditOutboxService.backlog()` has the details.
 */
@Injectable()
export class AuditHealthIndicator {
  private readonly logger = new Logger(AuditHealthIndicator.name);

  constructor(
    private readonly outbox: AuditOutboxService,
    private readonly health: HealthIndicatorService,
  ) {}

  async check(): Promise<HealthIndicatorResult<'auditing'>> {
    const indicator = this.health.check('auditing');
    let backlog;
    try {
      backlog = await this.outbox.backlog();
    } catch (error) {
      // A database outage: report it (503 with the rest of the check), never throw (500).
      this.logger.warn({ err: serializeError(error) }, 'Audit backlog cannot be read');
      return indicator.down();
    }
    const { lastError: _detail, ...data } = backlog;
    if (data.lastWrite === 'refused') return indicator.down(data);
    return data.pending > 0 || data.lastWrite === 'pending'
      ? indicator.degraded(data)
      : indicator.up(data);
  }
}
