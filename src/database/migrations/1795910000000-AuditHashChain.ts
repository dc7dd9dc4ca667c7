import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hash chain over the action log (see `src/modules/auditing/chain/`).
 *
 * - `action_log.tx`: the id of the transaction that stored the entry (`pg_current_xact_id()`
 *   as a bigint). The sealer chains entries in `(tx, id)` order, and only those of
 *   transactions that have ended (`tx` below the oldest running transaction's id, the
 *   snapshot's `xmin`): an entry of a transaction still in flight, whatever its `id`, can
 *   only ever get a larger position than those already chained, so none falls outside the
 *   chain when a transaction with a smaller id commits after a larger one. A BRIN index: it
 *   costs the writers next to nothing (the log is append-only, so `tx` grows with the
 *   table's physical order), and the sealer only reads the recent tail.
 * - `action_log_chain`: an entry's position (`seq`, gapless from 1) and
 *   `hash = SHA-256(prev_hash || SHA-256(canonical JSON of the entry))`. A table of its own,
 *   written once per entry, so `action_log` rows are never updated (an UPDATE of an indexed
 *   row would rewrite every index of the log). `entry_id` is unique: nothing is chained twice.
 * - `audit_chain_state`: how far the sealer has gone (`sealed_below`: every entry with a
 *   smaller `tx` is chained).
 * - `audit_checkpoints`: signed `(seq, hash)` pairs (Ed25519), also appended to a file.
 */
export class AuditHashChain1795910000000 implements MigrationInterface {
  name = 'AuditHashChain1795910000000';

  public async up(q: QueryRunner): Promise<void> {
    // Existing rows get this migration's transaction id: they are chained on the first pass.
    await q.query(`
      ALTER TABLE action_log
        ADD COLUMN tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)`);
    await q.query(
      `CREATE INDEX action_log_tx_idx ON action_log USING brin (tx) WITH (pages_per_range = 16, autosummarize = on)`,
    );
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
        singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        sealed_below bigint  NOT NULL
      )`);
    await q.query(`INSERT INTO audit_chain_state (sealed_below) VALUES (0)`);
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
