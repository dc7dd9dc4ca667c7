import { Propagation, TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { runBeforeCommit } from '@/modules/auditing/write/lean-transaction-adapter';
import { createTestApp, type TestApp } from './helpers/test-app';

/**
 * Pins the library behaviour the one-round-trip audit write relies on (see
 * lean-transaction-adapter.ts): if an upgrade of TypeORM, pg or nestjs-cls changes it, this
 * file fails, not production.
 */
describe('Lean transaction adapter (library behaviour it relies on)', () => {
  let t: TestApp;
  let txHost: TransactionHost<TransactionalAdapterTypeOrm>;

  beforeAll(async () => {
    t = await createTestApp();
    txHost = t.app.get(TransactionHost);
    await t.db.query(`CREATE TABLE lean_probe (n int PRIMARY KEY)`);
    await t.db.query(`
      CREATE TABLE lean_deferred (n int, CONSTRAINT lean_deferred_n_key UNIQUE (n)
        DEFERRABLE INITIALLY DEFERRED)`);
  });
  beforeEach(() => t.truncate('lean_probe', 'lean_deferred'));
  afterAll(() => t.close());

  const probe = async () =>
    (await t.db.query<{ n: number }>(`SELECT n FROM lean_probe ORDER BY n`)).rows.map((r) => r.n);

  it('nestjs-cls runs every outer transaction through the adapter: a statement queued for the COMMIT runs with it', async () => {
    const committed: unknown[][] = [];
    let queued = false;
    await txHost.withTransaction(async () => {
      await txHost.tx.query(`INSERT INTO lean_probe VALUES (1)`);
      queued = runBeforeCommit(txHost.tx, {
        sql: `INSERT INTO lean_probe VALUES (2) RETURNING n`,
        onCommitted: (rows) => committed.push(rows),
        onFailed: (e) => e,
        raised: () => false,
      });
    });
    expect(queued).toBe(true);
    expect(committed).toEqual([[{ n: 2 }]]);
    expect(await probe()).toEqual([1, 2]);
  });

  it('outside a transaction nothing is queued (the caller writes itself)', () => {
    const statement = { sql: 'SELECT 1', onCommitted: () => 0, onFailed: (e: unknown) => e };
    expect(runBeforeCommit(txHost.tx, { ...statement, raised: () => false })).toBe(false);
  });

  it('TypeORM sees the transaction as open: a nested transaction is a savepoint, rolled back alone', async () => {
    await txHost.withTransaction(async () => {
      await txHost.tx.query(`INSERT INTO lean_probe VALUES (1)`);
      await expect(
        txHost.withTransaction(Propagation.Nested, async () => {
          await txHost.tx.query(`INSERT INTO lean_probe VALUES (2)`);
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
      await txHost.tx.query(`INSERT INTO lean_probe VALUES (3)`);
    });
    expect(await probe()).toEqual([1, 3]);
  });

  it('an error raised by the COMMIT itself is not blamed on a queued statement', async () => {
    let failed = false;
    const error = await txHost
      .withTransaction(async () => {
        await txHost.tx.query(`INSERT INTO lean_deferred VALUES (1), (1)`);
        runBeforeCommit(txHost.tx, {
          sql: `SELECT 1`,
          onCommitted: () => undefined,
          onFailed: (e) => ((failed = true), e),
          raised: (e) => (e as { code?: string }).code === 'AU001',
        });
      })
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('23505');
    expect(failed).toBe(false);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM lean_deferred`)).rows[0].n).toBe(0);
  });

  it('audit_write names its own failures by SQLSTATE: AU001 when fail-closed', async () => {
    await t.db.query(`
      CREATE OR REPLACE FUNCTION lean_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected'; END $$;
      CREATE TRIGGER lean_fail BEFORE INSERT ON action_log FOR EACH ROW EXECUTE FUNCTION lean_fail();`);
    try {
      const error = await t.db
        .query(
          `SELECT audit_write(gen_random_uuid(), 'a', 'CREATE', 'ACTION_LOG', '1', NULL,
                              NULL, NULL, NULL, NULL, NULL, NULL, true,
                              'SUCCESS', NULL, '{}', NULL)`,
        )
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'AU001', message: expect.stringMatching(/injected/) });
    } finally {
      await t.db.query(`DROP TRIGGER lean_fail ON action_log`);
    }
  });
});
