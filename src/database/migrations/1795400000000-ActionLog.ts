import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The action log, its outbox of pending entries, and `audit_write`, the one-round-trip
 * writer: the INSERT runs inside a plpgsql EXCEPTION block (a savepoint), and an entry that
 * cannot be stored goes to `audit_outbox` in the same transaction as the business change, to
 * be retried until stored. Fail-closed mode re-raises instead.
 */
export class ActionLog1795400000000 implements MigrationInterface {
  name = 'ActionLog1795400000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE action_log (
        id             bigserial   PRIMARY KEY,
        event_id       uuid        NOT NULL,
        "timestamp"    timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor_id       text        NOT NULL CHECK (actor_id <> '' AND length(actor_id) <= 128),
        action_type    text        NOT NULL CHECK (action_type IN ('CREATE', 'READ', 'UPDATE', 'DELETE')),
        entity_type    text        NOT NULL CHECK (entity_type ~ '^[A-Z][A-Z0-9_]{0,63}$'),
        entity_id      text        NOT NULL CHECK (entity_id <> '' AND length(entity_id) <= 256),
        details        jsonb       CHECK (details IS NULL OR jsonb_typeof(details) = 'object'),
        request_id     text,
        correlation_id text,
        ip             text,
        user_agent     text,
        method         text,
        path           text,
        CONSTRAINT action_log_event_id_key UNIQUE (event_id)
      )`);
    // Every filter of GET /action-logs, each ending in (timestamp, id): the keyset order.
    // action_type and entity_type alone are low-cardinality: the time index serves them.
    await q.query(`CREATE INDEX action_log_time_idx ON action_log ("timestamp", id)`);
    await q.query(
      `CREATE INDEX action_log_entity_idx ON action_log (entity_type, entity_id, "timestamp", id)`,
    );
    await q.query(`CREATE INDEX action_log_actor_idx ON action_log (actor_id, "timestamp", id)`);
    await q.query(
      `CREATE INDEX action_log_request_idx ON action_log (request_id, "timestamp", id)`,
    );
    await q.query(
      `CREATE INDEX action_log_correlation_idx ON action_log (correlation_id, "timestamp", id)`,
    );

    await q.query(`
      CREATE TABLE audit_outbox (
        event_id    uuid        PRIMARY KEY,
        occurred_at timestamptz NOT NULL,
        entry       jsonb       NOT NULL,
        attempts    integer     NOT NULL DEFAULT 1,
        last_error  text,
        last_try_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);

    await q.query(`
      CREATE FUNCTION audit_write(
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
          IF p_fail_closed THEN
            RAISE;
          END IF;
          GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        END;
        INSERT INTO audit_outbox (event_id, occurred_at, entry, last_error)
        VALUES (p_event_id, clock_timestamp(), jsonb_build_object(
          'actorId', p_actor_id, 'actionType', p_action_type, 'entityType', p_entity_type,
          'entityId', p_entity_id, 'details', p_details, 'requestId', p_request_id,
          'correlationId', p_correlation_id, 'ip', p_ip, 'userAgent', p_user_agent,
          'method', p_method, 'path', p_path), v_error);
        RETURN v_error;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION audit_write`);
    await q.query(`DROP TABLE audit_outbox`);
    await q.query(`DROP TABLE action_log`);
  }
}
