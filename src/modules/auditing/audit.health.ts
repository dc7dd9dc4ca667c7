import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { AuditOutboxService } from './write/audit-outbox.service';

/** `auditing` in GET /health: degraded while entries wait in the outbox. */
@Injectable()
export class AuditHealthIndicator {
  constructor(
    private readonly outbox: AuditOutboxService,
    private readonly health: HealthIndicatorService,
  ) {}

  async check(): Promise<HealthIndicatorResult<'auditing'>> {
    const indicator = this.health.check('auditing');
    const backlog = await this.outbox.backlog();
    const data = { ...backlog };
    return backlog.pending > 0 ? indicator.degraded(data) : indicator.up(data);
  }
}
