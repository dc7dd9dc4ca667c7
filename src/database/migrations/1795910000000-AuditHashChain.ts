import type { MigrationInterface, QueryRunner } from 'typeorm';

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
 */
export class AuditHashChain1795910000000 implements MigrationInterface {
  name = 'AuditHashChain1795910000000';

  public async up(q: QueryRunner): Promise<void> {
    // Existing rows get this migration's transaction id: they are chained on the first pass.
    await q.query(`
      ALTER TABLE action_log
        ADD COLUMN tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)`);
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
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_checkpoints`);
    await q.query(`DROP TABLE audit_chain_state`);
    await q.query(`DROP TABLE action_log_chain`);
    await q.query(`ALTER TABLE action_log DROP COLUMN tx`);
  }
}
