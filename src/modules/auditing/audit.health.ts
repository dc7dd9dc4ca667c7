import { Injectable, Logger } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { serializeError } from '@/common/logging/logging.module';
import { chainStore } from './chain/chain.store';
import { AuditOutboxService } from './write/audit-outbox.service';
import { DataSource } from 'typeorm';

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
    private readonly dataSource: DataSource,
  ) {}

  async check(): Promise<HealthIndicatorResult<'auditing'>> {
    const indicator = this.health.check('auditing');
    let backlog;
    let chain;
    try {
      [backlog, chain] = await Promise.all([
        this.outbox.backlog(),
        chainStore.unsealed(this.dataSource),
      ]);
    } catch (error) {
      // A database outage: report it (503 with the rest of the check), never throw (500).
      this.logger.warn({ err: serializeError(error) }, 'Audit backlog cannot be read');
      return indicator.down();
    }
    // `unsealed`: stored entries the sealer has not chained yet (normally the last moments').
    const { lastError: _detail, ...rest } = backlog;
    const data = { ...rest, ...chain };
    if (data.lastWrite === 'refused') return indicator.down(data);
    return data.pending > 0 || data.lastWrite === 'pending'
      ? indicator.degraded(data)
      : indicator.up(data);
  }
}
