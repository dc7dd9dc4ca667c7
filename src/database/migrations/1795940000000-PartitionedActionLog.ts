import type { MigrationInterface, QueryRunner } from 'typeorm';
import { appendOnlySql } from '../append-only';
import { APP_GROUP_ROLE } from '../roles';

/**
 * The action log becomes range-partitioned by month of `timestamp` (UTC), so years of history
 * stay cheap to keep and old months leave whole (issue 11: retention drops partitions, never
 * rows). The migration moves the existing rows; everything else about the log stays: its name,
 * columns, CHECKs, index names (each now an index per partition), defaults, the id sequence,
 * the append-only triggers and grants, and the chain, which refers to entries by `id`.
 *
 * - Primary key `(id, "timestamp")`: a partitioned table's unique keys must hold the
 *   partition key. `id` still comes from one sequence, so it stays unique.
 * - Exactly-once: a unique `event_id` cannot be enforced across partitions by an index of the
 *   table. `action_log_event_ids` is the registry of every stored event id (with where its
 *   entry is), and a BEFORE INSERT trigger claims the event id there first
 *   (`INSERT … ON CONFLICT DO NOTHING`): an event id already claimed — committed, or by a
 *   transaction still running, which it waits for — skips the row, whichever path stores it
 *   (request, outbox retrier, bulk) and whichever month it falls in. The registry also finds
 *   an entry by event id without searching every partition.
 * - `audit_ensure_partitions(from, to)`: creates the missing months between the two instants
 *   (created empty, then attached: attaching takes no lock that blocks writers or readers).
 *   SECURITY DEFINER, so the service's role (which may create nothing) can make room for a
 *   bulk import of history or for the months ahead; it can create only empty partitions of
 *   this table, never drop one. Each new partition gets the TRUNCATE guard (statement
 *   triggers are not inherited) and the same narrow rights as the log.
 * - `audit_legal_holds` and `audit_archives`: see src/modules/auditing/retention/.
 *
 * No default partition: a row outside every partition fails its insert (kept in the outbox,
 * as for any failed insert) rather than landing where a later partition could not be created.
 */
export class PartitionedActionLog1795940000000 implements MigrationInterface {
  name = 'PartitionedActionLog1795940000000';

  public async up(q: QueryRunner): Promise<void> {
    // The old table steps aside with its index and constraint names, so the new ones are free.
    await q.query(`ALTER TABLE action_log RENAME TO action_log_unpartitioned`);
    await q.query(renameIndexes('action_log_unpartitioned'));
    await q.query(`
      CREATE TABLE action_log (
        id             bigint      NOT NULL DEFAULT nextval('action_log_id_seq'::regclass),
        event_id       uuid        NOT NULL,
        "timestamp"    timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor_id       text        NOT NULL,
        action_type    text        NOT NULL,
        entity_type    text        NOT NULL,
        entity_id      text        NOT NULL,
        details        jsonb,
        request_id     text,
        correlation_id text,
        ip             text,
        user_agent     text,
        method         text,
        path           text,
        outcome        text        NOT NULL DEFAULT 'SUCCESS',
        status_code    integer,
        actor_roles    text[]      NOT NULL DEFAULT '{}',
        tx             bigint      NOT NULL DEFAULT audit_current_tx(),
        CONSTRAINT action_log_pkey PRIMARY KEY (id, "timestamp"),
        CONSTRAINT action_log_action_type_check
          CHECK (action_type IN ('CREATE', 'READ', 'UPDATE', 'DELETE', 'EXECUTE')),
        CONSTRAINT action_log_actor_id_check CHECK (actor_id <> '' AND length(actor_id) <= 128),
        CONSTRAINT action_log_details_check
          CHECK (details IS NULL OR jsonb_typeof(details) = 'object'),
        CONSTRAINT action_log_entity_id_check CHECK (entity_id <> '' AND length(entity_id) <= 256),
        CONSTRAINT action_log_entity_type_check CHECK (entity_type ~ '^[A-Z][A-Z0-9_]{0,63}$'),
        CONSTRAINT action_log_outcome_check CHECK (outcome IN ('SUCCESS', 'FAILURE', 'DENIED')),
        CONSTRAINT action_log_status_code_check CHECK (status_code BETWEEN 100 AND 599)
      ) PARTITION BY RANGE ("timestamp")`);
    await q.query(`ALTER SEQUENCE action_log_id_seq OWNED BY action_log.id`);
    for (const sql of INDEXES) await q.query(sql);

    await q.query(`
      CREATE TABLE action_log_event_ids (
        event_id   uuid        NOT NULL CONSTRAINT action_log_event_id_key PRIMARY KEY,
        entry_id   bigint      NOT NULL,
        entry_time timestamptz NOT NULL
      )`);
    await q.query(REGISTER_EVENT);
    await q.query(`
      CREATE TRIGGER action_log_exactly_once BEFORE INSERT ON action_log
        FOR EACH ROW EXECUTE FUNCTION audit_register_event()`);

    await q.query(ENSURE_PARTITIONS);
    await q.query(`
      SELECT audit_ensure_partitions(
        LEAST((SELECT min("timestamp") FROM action_log_unpartitioned), now() - interval '1 month'),
        now() + interval '3 months')`);
    await q.query(`
      INSERT INTO action_log (${COLUMNS}) SELECT ${COLUMNS} FROM action_log_unpartitioned ORDER BY id`);
    await q.query(`DROP TABLE action_log_unpartitioned`);
    for (const sql of appendOnlySql('action_log')) await q.query(sql);
    await q.query(
      rejectHistoryChange('COALESCE(pg_partition_root(TG_RELID)::text, TG_TABLE_NAME)'),
    );

    await q.query(`
      CREATE TABLE audit_legal_holds (
        id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        reason      text        NOT NULL CHECK (reason <> '' AND length(reason) <= 1000),
        from_time   timestamptz,
        to_time     timestamptz,
        filter      jsonb       CHECK (filter IS NULL OR jsonb_typeof(filter) = 'object'),
        created_by  text        NOT NULL,
        created_at  timestamptz(3) NOT NULL DEFAULT now(),
        released_by text,
        released_at timestamptz(3),
        CONSTRAINT audit_legal_holds_range_check CHECK (from_time IS NULL OR to_time IS NULL OR from_time < to_time)
      )`);
    await q.query(`
      CREATE TABLE audit_archives (
        id          bigserial   PRIMARY KEY,
        partition   text        NOT NULL,
        from_time   timestamptz NOT NULL,
        to_time     timestamptz NOT NULL,
        file        text        NOT NULL CONSTRAINT audit_archives_file_key UNIQUE,
        sha256      text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        row_count   bigint      NOT NULL,
        min_id      bigint,
        max_id      bigint,
        seqs        int8multirange NOT NULL,
        first_seq   bigint,
        first_hash  text,
        last_seq    bigint,
        last_hash   text,
        archived_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    for (const sql of appendOnlySql('audit_archives')) await q.query(sql);
    // Written by the retention job, as the owner: the service's role only reads it (a row
    // here is what lets a missing entry pass verification as archived).
    // The registry only grows from the service; the retention job (the owner) removes the ids
    // of the entries it purges.
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN
          REVOKE UPDATE, DELETE, TRUNCATE ON action_log_event_ids FROM ${APP_GROUP_ROLE};
          REVOKE INSERT ON audit_archives FROM ${APP_GROUP_ROLE};
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(rejectHistoryChange('TG_TABLE_NAME'));
    await q.query(`DROP TABLE audit_archives`);
    await q.query(`DROP TABLE audit_legal_holds`);
    await q.query(`ALTER TABLE action_log RENAME TO action_log_partitioned`);
    await q.query(renameIndexes('action_log_partitioned'));
    await q.query(`
      CREATE TABLE action_log (LIKE action_log_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
        CONSTRAINT action_log_pkey PRIMARY KEY (id),
        CONSTRAINT action_log_event_id_key_unpartitioned UNIQUE (event_id))`);
    await q.query(`ALTER SEQUENCE action_log_id_seq OWNED BY action_log.id`);
    await q.query(`INSERT INTO action_log SELECT * FROM action_log_partitioned ORDER BY id`);
    await q.query(`DROP TABLE action_log_partitioned`);
    await q.query(`DROP TABLE action_log_event_ids`);
    await q.query(
      `ALTER TABLE action_log RENAME CONSTRAINT action_log_event_id_key_unpartitioned TO action_log_event_id_key`,
    );
    for (const sql of INDEXES) await q.query(sql);
    for (const sql of appendOnlySql('action_log')) await q.query(sql);
    await q.query(`DROP FUNCTION audit_ensure_partitions(timestamptz, timestamptz)`);
    await q.query(`DROP FUNCTION audit_register_event()`);
  }
}

/**
 * Renames every index of `table` (a log stepping aside) by appending its new name's suffix, so
 * the names are free for the table that takes its place.
 */
function renameIndexes(table: 'action_log_unpartitioned' | 'action_log_partitioned'): string {
  const suffix = table.slice('action_log'.length);
  return `
    DO $$
    DECLARE r record;
    BEGIN
      FOR r IN SELECT indexrelid::regclass::text AS name FROM pg_index
               WHERE indrelid = '${table}'::regclass LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.name, r.name || '${suffix}');
      END LOOP;
    END $$`;
}

/**
 * `reject_history_change()` (migration AppendOnlyAuditLog) naming `table`: on a partition, the
 * row trigger fires with the partition's name, and the refusal names the log instead.
 */
function rejectHistoryChange(table: string): string {
  return `
    CREATE OR REPLACE FUNCTION reject_history_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION USING
        ERRCODE = 'AU003',
        MESSAGE = format('%s is append-only: %s is not allowed', ${table}, TG_OP),
        HINT = 'Audit history is never changed or removed row by row.';
    END $$`;
}

const COLUMNS = `id, event_id, "timestamp", actor_id, action_type, entity_type, entity_id, details,
  request_id, correlation_id, ip, user_agent, method, path, outcome, status_code, actor_roles, tx`;

const INDEXES = [
  `CREATE INDEX action_log_time_idx ON action_log ("timestamp", id)`,
  `CREATE INDEX action_log_entity_idx ON action_log (entity_type, entity_id, "timestamp", id)`,
  `CREATE INDEX action_log_entity_type_action_idx ON action_log (entity_type, action_type, "timestamp", id)`,
  `CREATE INDEX action_log_action_idx ON action_log (action_type, "timestamp", id)`,
  `CREATE INDEX action_log_actor_idx ON action_log (actor_id, "timestamp", id)`,
  `CREATE INDEX action_log_request_idx ON action_log (request_id, "timestamp", id)`,
  `CREATE INDEX action_log_correlation_idx ON action_log (correlation_id, "timestamp", id)`,
  `CREATE INDEX action_log_actor_roles_idx ON action_log USING gin (actor_roles)`,
  `CREATE INDEX action_log_rejected_idx ON action_log (outcome, "timestamp", id) WHERE outcome <> 'SUCCESS'`,
  `CREATE INDEX action_log_details_idx ON action_log USING gin (details jsonb_path_ops)`,
  `CREATE INDEX action_log_tx_idx ON action_log (tx, id)`,
];

/**
 * Claims the entry's event id; an id already claimed skips the row (see the class comment).
 * Runs as the inserting role, which may insert into the registry.
 */
const REGISTER_EVENT = `
  CREATE FUNCTION audit_register_event() RETURNS trigger
  LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO action_log_event_ids (event_id, entry_id, entry_time)
    VALUES (NEW.event_id, NEW.id, NEW."timestamp")
    ON CONFLICT (event_id) DO NOTHING;
    IF FOUND THEN
      RETURN NEW;
    END IF;
    RETURN NULL;
  END $$`;

/**
 * Creates `action_log_YYYY_MM` for every month from `p_from`'s to `p_to`'s (UTC) that has
 * none, and returns how many it created. At most 120 months per call. Concurrent callers
 * serialize on an advisory lock; a month that exists is left alone.
 */
export const ENSURE_PARTITIONS = `
  CREATE FUNCTION audit_ensure_partitions(p_from timestamptz, p_to timestamptz) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  DECLARE
    v_month timestamp := date_trunc('month', p_from AT TIME ZONE 'UTC');
    v_last timestamp := date_trunc('month', p_to AT TIME ZONE 'UTC');
    v_name text;
    v_locked boolean := false;
    v_created integer := 0;
    v_index record;
  BEGIN
    IF p_from IS NULL OR p_to IS NULL OR v_last < v_month THEN
      RETURN 0;
    END IF;
    IF v_last > v_month + interval '119 months' THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = 'audit_ensure_partitions: at most 120 months at once';
    END IF;
    WHILE v_month <= v_last LOOP
      v_name := 'action_log_' || to_char(v_month, 'YYYY_MM');
      IF to_regclass('public.' || v_name) IS NULL THEN
        IF NOT v_locked THEN
          PERFORM pg_advisory_xact_lock(7305011918);
          v_locked := true;
        END IF;
        IF to_regclass('public.' || v_name) IS NULL THEN
          EXECUTE format('CREATE TABLE public.%I (LIKE public.action_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
          EXECUTE format('ALTER TABLE public.action_log ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
            v_name, v_month AT TIME ZONE 'UTC', (v_month + interval '1 month') AT TIME ZONE 'UTC');
          -- Its indexes are named after the log's (action_log_2026_11_time_idx …): plans read well.
          FOR v_index IN
            SELECT c.relname AS child, p.relname AS parent
            FROM pg_index x
            JOIN pg_class c ON c.oid = x.indexrelid
            JOIN pg_inherits i ON i.inhrelid = c.oid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE x.indrelid = to_regclass('public.' || v_name)
          LOOP
            IF v_index.child <> v_name || substr(v_index.parent, 11) THEN
              EXECUTE format('ALTER INDEX public.%I RENAME TO %I',
                v_index.child, v_name || substr(v_index.parent, 11));
            END IF;
          END LOOP;
          EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON public.%I FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change()',
            v_name || '_no_truncate', v_name);
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON public.%I FROM ${APP_GROUP_ROLE}', v_name);
          END IF;
          v_created := v_created + 1;
        END IF;
      END IF;
      v_month := v_month + interval '1 month';
    END LOOP;
    RETURN v_created;
  END $$`;
