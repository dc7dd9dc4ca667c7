import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What an entry says about how the attempt ended and who the actor was:
 * - `outcome` — `SUCCESS` (every existing row), `FAILURE` (the handler failed and rolled back)
 *   or `DENIED` (401/403);
 * - `status_code` — the HTTP status of the request; null for system actions (no request);
 * - `actor_roles` — the roles the actor held when acting; `{}` for system actions.
 * `audit_write` also takes the time of the event (`p_occurred_at`; null → `clock_timestamp()`),
 * for entries written after the fact (rejected attempts, reads: see AuditBackgroundQueue).
 * `audit_write` takes the three (its old signature is dropped, so no caller can write an entry
 * without them) and keeps its SQLSTATEs (AU001 fail-closed, AU002 outbox failed too); the
 * outbox JSON carries them.
 *
 * Indexes: `?actorRole=` is an array containment (`actor_roles @> ARRAY[...]`), which only a
 * GIN index serves; `?outcome=` is served by a partial index of the rejected attempts only
 * (`SUCCESS`, the bulk, is what the time index already serves), so successful writes pay for
 * no extra index.
 */
export class ActionOutcomes1795800000000 implements MigrationInterface {
  name = 'ActionOutcomes1795800000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE action_log
        ADD COLUMN outcome text NOT NULL DEFAULT 'SUCCESS'
          CONSTRAINT action_log_outcome_check CHECK (outcome IN ('SUCCESS', 'FAILURE', 'DENIED')),
        ADD COLUMN status_code integer
          CONSTRAINT action_log_status_code_check CHECK (status_code BETWEEN 100 AND 599),
        ADD COLUMN actor_roles text[] NOT NULL DEFAULT '{}'`);
    await q.query(`CREATE INDEX action_log_actor_roles_idx ON action_log USING gin (actor_roles)`);
    await q.query(
      `CREATE INDEX action_log_rejected_idx ON action_log (outcome, "timestamp", id) WHERE outcome <> 'SUCCESS'`,
    );
    await q.query(`DROP FUNCTION audit_write(${OLD_ARGS})`);
    await q.query(auditWrite(true));
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION audit_write(${NEW_ARGS})`);
    await q.query(auditWrite(false));
    await q.query(`DROP INDEX action_log_rejected_idx`);
    await q.query(`DROP INDEX action_log_actor_roles_idx`);
    await q.query(
      `ALTER TABLE action_log DROP COLUMN outcome, DROP COLUMN status_code, DROP COLUMN actor_roles`,
    );
  }
}

const OLD_ARGS = 'uuid, text, text, text, text, jsonb, text, text, text, text, text, text, boolean';
const NEW_ARGS = `${OLD_ARGS}, text, integer, text[], timestamptz`;

/** `audit_write` as of AuditWriteErrorCodes (`withOutcomes` false), or with the new fields. */
function auditWrite(withOutcomes: boolean): string {
  const extraParams = withOutcomes
    ? `, p_outcome text, p_status_code integer, p_actor_roles text[], p_occurred_at timestamptz`
    : '';
  const extraColumns = withOutcomes ? ', outcome, status_code, actor_roles, "timestamp"' : '';
  const extraValues = withOutcomes
    ? ', p_outcome, p_status_code, p_actor_roles, COALESCE(p_occurred_at, clock_timestamp())'
    : '';
  const occurredAt = withOutcomes
    ? 'COALESCE(p_occurred_at, clock_timestamp())'
    : 'clock_timestamp()';
  const extraJson = withOutcomes
    ? `, 'outcome', p_outcome, 'statusCode', p_status_code, 'actorRoles', to_jsonb(p_actor_roles)`
    : '';
  return `
    CREATE OR REPLACE FUNCTION audit_write(
      p_event_id uuid, p_actor_id text, p_action_type text, p_entity_type text,
      p_entity_id text, p_details jsonb, p_request_id text, p_correlation_id text,
      p_ip text, p_user_agent text, p_method text, p_path text, p_fail_closed boolean${extraParams}
    ) RETURNS text
    LANGUAGE plpgsql AS $$
    DECLARE
      v_error text;
    BEGIN
      BEGIN
        INSERT INTO action_log (event_id, actor_id, action_type, entity_type, entity_id, details,
                                request_id, correlation_id, ip, user_agent, method, path${extraColumns})
        VALUES (p_event_id, p_actor_id, p_action_type, p_entity_type, p_entity_id, p_details,
                p_request_id, p_correlation_id, p_ip, p_user_agent, p_method, p_path${extraValues});
        RETURN NULL;
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        IF p_fail_closed THEN
          RAISE EXCEPTION USING ERRCODE = 'AU001', MESSAGE = 'audit entry not stored: ' || v_error;
        END IF;
      END;
      BEGIN
        INSERT INTO audit_outbox (event_id, occurred_at, entry, last_error)
        VALUES (p_event_id, ${occurredAt}, jsonb_build_object(
          'actorId', p_actor_id, 'actionType', p_action_type, 'entityType', p_entity_type,
          'entityId', p_entity_id, 'details', p_details, 'requestId', p_request_id,
          'correlationId', p_correlation_id, 'ip', p_ip, 'userAgent', p_user_agent,
          'method', p_method, 'path', p_path${extraJson}), v_error);
      EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = 'AU002',
          MESSAGE = 'audit entry not stored, nor kept in the outbox: ' || SQLERRM;
      END;
      RETURN v_error;
    END $$`;
}
