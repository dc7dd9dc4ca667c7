import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { getDataSourceToken } from '@nestjs/typeorm';
import { ClsPluginTransactional } from '@nestjs-cls/transactional';
import { ClsModule } from 'nestjs-cls';
import { AuditHealthIndicator } from './audit.health';
import { AuditMetrics } from './audit-metrics';
import { AuditedDeclarationsExplorer } from './audited-declarations.explorer';
import { AuditedRoutes } from './audited-routes';
import { AuditingService } from './auditing.service';
import { AuditSubscriber } from './capture/audit.subscriber';
import { ChainController } from './chain/chain.controller';
import { ChainSealer } from './chain/chain-sealer.service';
import { ChainVerificationService } from './chain/chain-verification.service';
import { SigningKeyProvider } from './chain/signing-key.provider';
import { EntityTypeRegistry } from './entity-type.registry';
import { ActionLogQueryService } from './query/action-log-query.service';
import { ActionLogsController } from './query/action-logs.controller';
import { ActionLogBulkController } from './bulk/action-log-bulk.controller';
import { ActionLogExportController } from './export/action-log-export.controller';
import { ActionLogExportService } from './export/action-log-export.service';
import { HTTP_ERROR_OBSERVERS } from '@/common/errors/http-error-observer';
import { AuditBackgroundQueue } from './write/audit-background.queue';
import { AuditRetentionService } from './retention/audit-retention.service';
import { LegalHoldsController } from './retention/legal-holds.controller';
import { LegalHoldsService } from './retention/legal-holds.service';
import { AuditEntryWriter } from './write/audit-entry.writer';
import { AuditRejections } from './write/audit-rejections';
import { AuditInterceptor } from './write/audit.interceptor';
import { AuditOutboxService } from './write/audit-outbox.service';
import { AuditedExecution } from './write/audited-execution';
import { LeanTransactionalAdapterTypeOrm } from './write/lean-transaction-adapter';

/**
 * The audit trail. Its public surface is `index.ts`. Global, so any feature module can
 * declare `@Audited` handlers without importing it. It also provides the per-request
 * transaction (`TransactionHost`) every module writes through: its adapter is what lets the
 * audit entry travel with the COMMIT.
 */
@Global()
@Module({
  imports: [
    DiscoveryModule,
    TerminusModule,
    ClsModule.registerPlugins([
      new ClsPluginTransactional({
        imports: [],
        adapter: new LeanTransactionalAdapterTypeOrm({ dataSourceToken: getDataSourceToken() }),
        enableTransactionProxy: false,
      }),
    ]),
  ],
  controllers: [
    ChainController,
    ActionLogsController,
    ActionLogBulkController,
    ActionLogExportController,
    LegalHoldsController,
  ],
  providers: [
    AuditingService,
    AuditEntryWriter,
    AuditMetrics,
    AuditOutboxService,
    ActionLogQueryService,
    ActionLogExportService,
    EntityTypeRegistry,
    AuditHealthIndicator,
    AuditSubscriber,
    AuditedExecution,
    AuditedDeclarationsExplorer,
    AuditBackgroundQueue,
    AuditRejections,
    AuditedRoutes,
    SigningKeyProvider,
    ChainSealer,
    ChainVerificationService,
    LegalHoldsService,
    AuditRetentionService,
    { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
    // The exception filter tells auditing about rejected attempts (denied, failed).
    {
      provide: HTTP_ERROR_OBSERVERS,
      useFactory: (rejections: AuditRejections) => [rejections],
      inject: [AuditRejections],
    },
  ],
  exports: [
    AuditingService,
    ChainSealer,
    ChainVerificationService,
    AuditHealthIndicator,
    AuditOutboxService,
    AuditBackgroundQueue,
    AuditRejections,
    HTTP_ERROR_OBSERVERS,
  ],
})
export class AuditingModule {}
