import { ChainSealer } from '@/modules/auditing';
import { createTestApp, type TestApp } from './helpers/test-app';

/**
 * Two instances on one database, both writing audited requests and both sealing, while
 * transactions commit out of id order: the chain verifies and holds every entry exactly once.
 */
describe('Tamper evidence: two instances sealing one chain (e2e)', () => {
  let a: TestApp;
  let b: TestApp;
  const env = { RATE_LIMIT_MAX: '0', AUDIT_SEAL_INTERVAL_MS: '5', AUDIT_CHECKPOINT_EVERY: '10' };

  beforeAll(async () => {
    a = await createTestApp({ env });
    b = await createTestApp({ env, databaseUrl: a.databaseUrl });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it('chains every entry once, in a verifiable order', async () => {
    const create = (t: TestApp, name: string) =>
      t.http
        .post('/api/v1/mcp-definitions')
        .set({ 'X-User-ID': 'alice', 'X-User-Roles': 'admin' })
        .send({ name, transport: 'streamable-http', url: 'http://127.0.0.1:1/mcp' })
        .expect(201);

    // Transactions that store an entry early (small ids) and commit late, in reverse order.
    const late = await Promise.all([1, 2, 3, 4].map(() => a.db.connect()));
    for (const [i, client] of late.entries()) {
      await client.query('BEGIN');
      await client.query(
        `SELECT audit_write(gen_random_uuid(), 'late-${i}', 'CREATE', 'MCP_DEFINITION', 'late',
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, 'SUCCESS', NULL, '{}'::text[], NULL)`,
      );
    }
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      writes.push(create(i % 2 ? a : b, `inst-${i}`));
      // Both sealers are also pushed explicitly, concurrently with the writes.
      if (i % 10 === 0) writes.push(a.app.get(ChainSealer).seal(), b.app.get(ChainSealer).seal());
      if (i % 15 === 14) {
        const client = late.pop()!;
        writes.push(client.query('COMMIT').finally(() => client.release()));
      }
    }
    await Promise.all(writes);
    for (const client of late) {
      await client.query('COMMIT');
      client.release();
    }
    await Promise.all([a.seal(), b.seal()]);

    const { rows } = await a.db.query<{
      entries: number;
      links: number;
      distinct: number;
      max: string;
    }>(
      `SELECT (SELECT count(*)::int FROM action_log) AS entries,
              (SELECT count(*)::int FROM action_log_chain) AS links,
              (SELECT count(DISTINCT entry_id)::int FROM action_log_chain) AS distinct,
              (SELECT max(seq)::text FROM action_log_chain) AS max`,
    );
    expect(rows[0].entries).toBe(64);
    expect(rows[0]).toEqual({ entries: 64, links: 64, distinct: 64, max: '64' });
    const unchained = await a.db.query(
      `SELECT count(*)::int AS n FROM action_log l
       WHERE NOT EXISTS (SELECT 1 FROM action_log_chain c WHERE c.entry_id = l.id)`,
    );
    expect(unchained.rows[0].n).toBe(0);
    for (const t of [a, b]) {
      const result = await t.http
        .get('/api/v1/action-logs/verify')
        .set({ 'X-User-ID': 'audrey', 'X-User-Roles': 'auditor' })
        .expect(200);
      expect(result.body).toMatchObject({ ok: true, firstInvalid: null });
      expect(result.body.checked).toBeGreaterThanOrEqual(64);
    }
  });
});
