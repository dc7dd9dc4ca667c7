export { Audited, type AuditContext, type AuditedOptions } from './audited.decorator';
export { AuditingService, AuditValidationError } from './auditing.service';
export { AuditHealthIndicator } from './audit.health';
export { AuditOutboxService } from './audit-outbox.service';
export * from './audit.types';
export { redact, REDACTED } from './redaction';
export { AuditingModule } from './auditing.module';
export { AuditedEntity, type ChangeSet } from './change-capture';
