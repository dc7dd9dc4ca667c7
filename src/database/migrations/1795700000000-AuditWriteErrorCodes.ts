import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `audit_write` says why it failed with its own SQLSTATEs, so the writer tells its errors
 * apart from the COMMIT's by code (not by searching error texts): `AU001` — fail-closed, the
 * entry was not stored; `AU002` — neither the log nor the outbox could take the entry.
 */
export class AuditWriteErrorCodes1795700000000 implements MigrationInterface {
  name = 'AuditWriteErrorCodes1795700000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(auditWrite(true));
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(auditWrite(false));
  }
}

function auditWrite(withCodes: boolean): string {
  const failClosed = withCodes
    ? `RAISE EXCEPTION USING ERRCODE = 'AU001', MESSAGE = 'audit entry not stored: ' || v_error;`
    : `RAISE;`;
  const outbox = `INSERT INTO audit_outbox (event_id, occurred_at, entry, last_error)
        VALUES (p_event_id, clock_timestamp(), jsonb_build_object(
          'actorId', p_actor_id, 'actionType', p_action_type, 'entityType', p_entity_type,
          'entityId', p_entity_id, 'details', p_details, 'requestId', p_request_id,
          'correlationId', p_correlation_id, 'ip', p_ip, 'userAgent', p_user_agent,
          'method', p_method, 'path', p_path), v_error);`;
  return `
    CREATE OR REPLACE FUNCTION audit_write(
      p_event_id uuid, p_actor_id text, p_action_type text, p_entity_type text,
      p_entity_id text, p_details jsonb, p_request_id text, p_correlation_id text,
      p_ip text, p_user_agent text, p_method text, p_path text, p_fail_closed boolean
    ) RETURNS text
    LANGUAGE plpgsql AS $$
    DECLARE
      v_error text;
    BEGIN
      BEGIN
        INSERT INTO action_log (event_id, actor_id, action_type, entity_type, entity_id, details,
                                request_id, correlation_id, ip, user_agent, method, path)
        VALUES (p_event_id, p_actor_id, p_action_type, p_entity_type, p_entity_id, p_details,
                p_request_id, p_correlation_id, p_ip, p_user_agent, p_method, p_path);
        RETURN NULL;
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        IF p_fail_closed THEN
          ${failClosed}
        END IF;
      END;
      ${
        withCodes
          ? `BEGIN
        ${outbox}
      EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = 'AU002',
          MESSAGE = 'audit entry not stored, nor kept in the outbox: ' || SQLERRM;
      END;`
          : outbox
      }
      RETURN v_error;
    END $$`;
}
