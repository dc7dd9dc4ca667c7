/**
 * The auditing module's public face: the only file other modules import from.
 * `@Audited` / `@AuditedEntity` to declare, `AuditingService` for system jobs and imports.
 */
export { Audited, AuditedRead, type AuditContext, type AuditedOptions } from './audited.decorator';
export { AuditedEntity, SecretValues, type ChangeSet } from './capture/change-capture';
export { redact, REDACTED } from './capture/redaction';
export { AuditingService } from './auditing.service';
export { AuditValidationError } from './write/audit-entry.validator';
export { AuditUnavailableError } from './write/audit-entry.writer';
export { AuditHealthIndicator } from './audit.health';
export { EntityTypeRegistry } from './entity-type.registry';
export { AuditOutboxService, type AuditBacklog } from './write/audit-outbox.service';
export { AuditBackgroundQueue } from './write/audit-background.queue';
export { AuditRejections, REJECTION_WINDOW_MS } from './write/audit-rejections';
export * from './audit.types';
export { AuditingModule } from './auditing.module';
export { ChainSealer, type SealPass } from './chain/chain-sealer.service';
export { ChainVerificationService } from './chain/chain-verification.service';
export { generateSigningKeyPair } from './chain/signing-keys';
/** An entry as the API's JSON, built by PostgreSQL (for benchmarks comparing against raw SQL). */
export { ENTRY_JSON } from './query/action-log.projection';
export {
  AuditRetentionService,
  type ArchiveManifest,
  type RetentionPass,
} from './retention/audit-retention.service';
