import type { MigrationInterface, QueryRunner } from 'typeorm';
import { appendOnlySql, dropAppendOnlySql } from '../append-only';

/**
 * The hash chain over the action log (see `src/modules/auditing/chain/`).
 *
 * - `action_log.tx`: the id of the transaction that stored the entry (`pg_current_xact_id()`
 *   as a bigint). The sealer chains entries in `(tx, id)` order, and only those of
 *   transactions that have ended (`tx` below the oldest running transaction's id): an entry
 *   of a transaction still in flight, whatever its `id`, sorts after everything chained so
 *   far, so none falls outside the chain when a transaction with a smaller id commits after a
 *   larger one. The index on `(tx, id)` lets each batch start where the last one ended.
 * - `action_log_chain`: an entry's position (`seq`, gapless from 1) and
 *   `hash = SHA-256(prev_hash || SHA-256(canonical JSON of the entry))`. A table of its own,
 *   written once per entry, so `action_log` rows are never updated (an UPDATE of an indexed
 *   row would rewrite every index of the log). `entry_id` is unique: nothing is chained twice.
 * - `audit_chain_state`: the `(tx, id)` of the last entry chained: everything up to it is in
 *   the chain, everything after it is not (yet).
 * - `audit_checkpoints`: signed `(seq, hash)` pairs (Ed25519), also appended to a file.
 * - `audit_sealing_horizon()`: see SEALING_HORIZON below.
 *
 * The chain and the checkpoints are append-only like the log itself.
 */
export class AuditHashChain1795910000000 implements MigrationInterface {
  name = 'AuditHashChain1795910000000';

  public async up(q: QueryRunner): Promise<void> {
    // Existing rows get this migration's transaction id: they are chained on the first pass.
    // A function, so the column's default reads the same in the catalog as in the entity.
    await q.query(`
      CREATE FUNCTION audit_current_tx() RETURNS bigint LANGUAGE sql STABLE
      AS $$ SELECT pg_current_xact_id()::text::bigint $$`);
    await q.query(
      `ALTER TABLE action_log ADD COLUMN tx bigint NOT NULL DEFAULT audit_current_tx()`,
    );
    await q.query(`CREATE INDEX action_log_tx_idx ON action_log (tx, id)`);
    await q.query(`
      CREATE TABLE action_log_chain (
        seq          bigint      PRIMARY KEY CHECK (seq > 0),
        entry_id     bigint      NOT NULL CONSTRAINT action_log_chain_entry_key UNIQUE,
        hash         bytea       NOT NULL CHECK (length(hash) = 32),
        hash_version smallint    NOT NULL,
        sealed_at    timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await q.query(`
      CREATE TABLE audit_chain_state (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        last_tx   bigint  NOT NULL,
        last_id   bigint  NOT NULL
      )`);
    await q.query(`INSERT INTO audit_chain_state (last_tx, last_id) VALUES (0, 0)`);
    await q.query(`
      CREATE TABLE audit_checkpoints (
        seq         bigint      PRIMARY KEY CHECK (seq > 0),
        hash        bytea       NOT NULL CHECK (length(hash) = 32),
        "timestamp" timestamptz NOT NULL,
        key_id      text        NOT NULL,
        signature   bytea       NOT NULL
      )`);
    for (const table of ['action_log_chain', 'audit_checkpoints'])
      for (const sql of appendOnlySql(table)) await q.query(sql);
    await q.query(SEALING_HORIZON);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION audit_sealing_horizon()`);
    for (const table of ['action_log_chain', 'audit_checkpoints'])
      for (const sql of dropAppendOnlySql(table)) await q.query(sql);
    await q.query(`DROP TABLE audit_checkpoints`);
    await q.query(`DROP TABLE audit_chain_state`);
    await q.query(`DROP TABLE action_log_chain`);
    await q.query(`ALTER TABLE action_log DROP COLUMN tx`);
    await q.query(`DROP FUNCTION audit_current_tx()`);
  }
}

/**
 * A transaction id below which every transaction that could still store an entry in this
 * database has ended: entries with a smaller `tx` are all visible now, or never will be.
 *
 * The oldest running transaction of the whole server (a snapshot's `xmin`) is always such a
 * bound, but then one long transaction in any other database of the server holds the sealer
 * back. Where the function's owner (it runs as its owner: the runtime role needs no right to
 * see other sessions) can see every session's transaction id — a superuser, or a member of
 * `pg_read_all_stats` — the bound is the oldest running transaction of this database and its
 * prepared ones, else the next id to be assigned. Read in this order: the next id first, then
 * the sessions from a fresh statistics snapshot, so every transaction with a smaller id that
 * is still running at the second read is seen. `backend_xid` is a 32-bit id: it is widened
 * with the epoch of `next` (the one before when it is above next's low half).
 */
const SEALING_HORIZON = `
  CREATE FUNCTION audit_sealing_horizon() RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  DECLARE
    v_next bigint := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
    v_horizon bigint;
  BEGIN
    IF NOT ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
            OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')) THEN
      RETURN pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    END IF;
    PERFORM pg_stat_clear_snapshot();
    SELECT min(((v_next >> 32) - CASE WHEN x > (v_next & 4294967295) THEN 1 ELSE 0 END) << 32 | x)
      INTO v_horizon
    FROM (
      SELECT backend_xid::text::bigint AS x FROM pg_stat_activity
      WHERE datname = current_database() AND backend_xid IS NOT NULL
      UNION ALL
      SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database = current_database()
    ) running;
    RETURN COALESCE(v_horizon, v_next);
  END $$`;
