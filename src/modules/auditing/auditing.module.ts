import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { ActionLogQueryService } from './action-log-query.service';
import { ActionLogsController } from './action-logs.controller';
import { AuditHealthIndicator } from './audit.health';
import { AuditInterceptor } from './audit.interceptor';
import { AuditMetrics } from './audit-metrics';
import { AuditOutboxService } from './audit-outbox.service';
import { AuditSubscriber } from './audit.subscriber';
import { AuditedExecution } from './audited-execution';
import { AuditedMethodsExplorer } from './audited-methods.explorer';
import { AuditingService } from './auditing.service';
import { EntityTypeRegistry } from './entity-type.registry';

/**
 * The audit trail. Its public surface: `@Audited` (audited.decorator.ts), `AuditingService`,
 * `AuditHealthIndicator`. Global, so any feature module can declare `@Audited` handlers
 * without importing it.
 */
@Global()
@Module({
  imports: [DiscoveryModule, TerminusModule],
  controllers: [ActionLogsController],
  providers: [
    AuditingService,
    AuditMetrics,
    AuditOutboxService,
    ActionLogQueryService,
    EntityTypeRegistry,
    AuditHealthIndicator,
    AuditSubscriber,
    AuditedExecution,
    AuditedMethodsExplorer,
    { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
  ],
  exports: [AuditingService, AuditHealthIndicator, AuditOutboxService],
})
export class AuditingModule {}
