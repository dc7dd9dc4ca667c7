import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { ActionType, AuditDetails, Outcome } from '../audit.types';

/**
 * The action log table (see the ActionLog migration for its constraints and the
 * `audit_write` function). Entries are written only through `audit_write` and never updated.
 *
 * Partitioned by month of `timestamp` (migration PartitionedActionLog): its primary key is
 * `(id, "timestamp")` and the event id's uniqueness lives in `action_log_event_ids`. TypeORM
 * cannot describe a partitioned table, so the schema builder leaves it to the migrations
 * (`synchronize: false`); the declarations below document it.
 */
@Entity({ name: 'action_log', synchronize: false })
@Check('action_log_actor_id_check', `actor_id <> '' AND length(actor_id) <= 128`)
@Check(
  'action_log_action_type_check',
  `action_type IN ('CREATE', 'READ', 'UPDATE', 'DELETE', 'EXECUTE')`,
)
@Check('action_log_entity_type_check', `entity_type ~ '^[A-Z][A-Z0-9_]{0,63}$'`)
@Check('action_log_entity_id_check', `entity_id <> '' AND length(entity_id) <= 256`)
@Check('action_log_details_check', `details IS NULL OR jsonb_typeof(details) = 'object'`)
@Check('action_log_outcome_check', `outcome IN ('SUCCESS', 'FAILURE', 'DENIED')`)
@Check('action_log_status_code_check', `status_code BETWEEN 100 AND 599`)
@Index('action_log_time_idx', ['timestamp', 'id'])
@Index('action_log_entity_idx', ['entityType', 'entityId', 'timestamp', 'id'])
@Index('action_log_entity_type_action_idx', ['entityType', 'actionType', 'timestamp', 'id'])
@Index('action_log_action_idx', ['actionType', 'timestamp', 'id'])
@Index('action_log_actor_idx', ['actorId', 'timestamp', 'id'])
@Index('action_log_request_idx', ['requestId', 'timestamp', 'id'])
@Index('action_log_correlation_idx', ['correlationId', 'timestamp', 'id'])
@Index('action_log_rejected_idx', ['outcome', 'timestamp', 'id'], {
  where: `outcome <> 'SUCCESS'`,
})
// A GIN index (for `actor_roles @> ...`): TypeORM cannot declare one, so it leaves it alone.
@Index('action_log_actor_roles_idx', { synchronize: false })
// GIN `jsonb_path_ops` (for `details @> ...`), likewise declared in the migration only.
@Index('action_log_details_idx', { synchronize: false })
// The sealer's order (see the AuditHashChain migration).
@Index('action_log_tx_idx', ['tx', 'id'])
export class ActionLog {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  /** Unique across partitions through `action_log_event_ids` (not an index of this table). */
  @Column({ name: 'event_id', type: 'uuid' })
  eventId: string;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  timestamp: Date;

  @Column({ name: 'actor_id', type: 'text' })
  actorId: string;

  @Column({ name: 'action_type', type: 'text' })
  actionType: ActionType;

  @Column({ name: 'entity_type', type: 'text' })
  entityType: string;

  @Column({ name: 'entity_id', type: 'text' })
  entityId: string;

  @Column({ type: 'jsonb', nullable: true })
  details: AuditDetails | null;

  @Column({ name: 'request_id', type: 'text', nullable: true })
  requestId: string | null;

  @Column({ name: 'correlation_id', type: 'text', nullable: true })
  correlationId: string | null;

  @Column({ type: 'text', nullable: true })
  ip: string | null;

  @Column({ name: 'user_agent', type: 'text', nullable: true })
  userAgent: string | null;

  @Column({ type: 'text', nullable: true })
  method: string | null;

  @Column({ type: 'text', nullable: true })
  path: string | null;

  @Column({ type: 'text', default: 'SUCCESS' })
  outcome: Outcome;

  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode: number | null;

  @Column({ name: 'actor_roles', type: 'text', array: true, default: '{}' })
  actorRoles: string[];

  /** The storing transaction's id: the sealer's chain order (see the AuditHashChain migration). */
  @Column({
    type: 'bigint',
    default: () => 'audit_current_tx()',
    select: false,
    insert: false,
    update: false,
  })
  tx: string;
}
