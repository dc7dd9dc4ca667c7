import { DataSource } from 'typeorm';
import { dataSourceOptions } from '@/database/data-source-options';
import {
  AuditBackgroundQueue,
  AuditOutboxService,
  AuditRejections,
  REJECTION_WINDOW_MS,
} from '@/modules/auditing';
import { gatekeeperModuleMetadata } from './fixtures/gatekeeper';
import { createWidgetsTable } from './fixtures/widgets';
import { createTestApp, type TestApp } from './helpers/test-app';
import { createTestDatabase } from './setup/test-database';

const MAX_PER_MINUTE = 25;
const stdio = { name: 'files', transport: 'stdio', command: 'npx' };
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl';

describe('Outcomes, roles and read auditing (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      metadata: gatekeeperModuleMetadata,
      // The flood below is 1,000 requests of one actor: the rate limit must not answer first.
      env: { AUDIT_REJECTED_MAX_PER_MINUTE: String(MAX_PER_MINUTE), RATE_LIMIT_MAX: '0' },
    });
    await createWidgetsTable(t.db);
  });
  beforeEach(() =>
    t.truncate('action_log', 'audit_outbox', 'test_widgets', 'mcp_versions', 'mcp_definitions'),
  );
  afterAll(() => t.close());

  const entries = (where?: string, params?: unknown[]) => t.entries(where, params);

  describe('failed attempts', () => {
    it('a duplicate (409) changes nothing and leaves exactly one FAILURE entry; successes say their status', async () => {
      const created = await t.http
        .post('/api/v1/mcp-definitions')
        .set('X-User-ID', 'alice')
        .send(stdio)
        .expect(201);
      await t.http
        .patch(`/api/v1/mcp-definitions/${created.body.id}`)
        .set('X-User-ID', 'alice')
        .send({ description: 'x' })
        .expect(200);
      await t.http
        .post('/api/v1/mcp-definitions')
        .set('X-User-ID', 'bob')
        .send({ ...stdio, description: 'the second one' })
        .expect(409);
      const { rows: defs } = await t.db.query(`SELECT description FROM mcp_definitions`);
      expect(defs).toEqual([{ description: 'x' }]);

      const rows = await entries();
      expect(rows.map((r) => [r.outcome, r.action_type, r.actor_id, r.status_code])).toEqual([
        ['SUCCESS', 'CREATE', 'alice', 201],
        ['SUCCESS', 'UPDATE', 'alice', 200],
        ['FAILURE', 'CREATE', 'bob', 409],
      ]);
      expect(rows[2]).toMatchObject({
        entity_type: 'MCP_DEFINITION',
        entity_id: '-',
        details: { statusCode: 409, error: 'Conflict' },
        method: 'POST',
        path: '/api/v1/mcp-definitions',
      });
      await t.http
        .delete(`/api/v1/mcp-definitions/${created.body.id}`)
        .set('X-User-ID', 'alice')
        .expect(204);
      expect((await entries(`action_type = 'DELETE'`))[0].status_code).toBe(204);
    });

    it('a 400 on an audited route leaves one FAILURE entry with the reason', async () => {
      await t.http
        .post('/api/v1/mcp-definitions')
        .send({ ...stdio, transport: 'carrier-pigeon' })
        .expect(400);
      const rows = await entries();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        outcome: 'FAILURE',
        status_code: 400,
        details: {
          statusCode: 400,
          error: 'Bad Request',
          message: expect.stringContaining('transport'),
        },
      });
      expect(await entries(`outcome = 'SUCCESS'`)).toEqual([]);
    });

    it('writes no entry for a failure on an unaudited route', async () => {
      await t.http.get('/api/v1/mcp-definitions/00000000-0000-4000-8000-000000000000').expect(404);
      await t.http.get('/api/v1/no-such-route').expect(404);
      expect(await entries()).toEqual([]);
    });
  });

  describe('denied attempts', () => {
    it('a 403 from a guard is one DENIED entry: the subject, its roles, the reason; no token', async () => {
      const res = await t.http
        .post('/api/v1/test-gated-widgets')
        .set('Authorization', `Bearer ${TOKEN}`)
        .set({ 'x-test-deny': '403', 'x-test-subject': 'mallory', 'x-test-roles': 'viewer' })
        .send({ name: 'nope' })
        .expect(403);
      expect(res.body.message).toBe('role editor required');
      const { rows: widgets } = await t.db.query(`SELECT 1 FROM test_widgets`);
      expect(widgets).toEqual([]);
      const rows = await entries();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        outcome: 'DENIED',
        status_code: 403,
        actor_id: 'mallory',
        actor_roles: ['viewer'],
        action_type: 'CREATE',
        entity_type: 'TEST_WIDGET',
        entity_id: '-',
        details: { reason: 'role editor required' },
      });
      expect(JSON.stringify(rows[0])).not.toContain(TOKEN.split('.')[1]);
    });

    it('a 401 is attributed to `anonymous`, names the entity aimed at, and never carries the token', async () => {
      await t.http
        .patch('/api/v1/test-gated-widgets/7')
        .set('Authorization', `Bearer ${TOKEN}`)
        .set('x-test-deny', '401')
        .send({ name: 'x' })
        .expect(401);
      // A guard that (wrongly) puts the token in its message: the entry still does not hold it.
      await t.http
        .post('/api/v1/test-gated-widgets')
        .set('Authorization', `Bearer ${TOKEN}`)
        .set('x-test-deny', '401-leaky')
        .send({ name: 'x' })
        .expect(401);
      const rows = await entries();
      expect(
        rows.map((r) => [r.outcome, r.actor_id, r.actor_roles, r.entity_id, r.details]),
      ).toEqual([
        ['DENIED', 'anonymous', [], '7', { reason: 'token signature is invalid' }],
        ['DENIED', 'anonymous', [], '-', { reason: 'token [REDACTED] is invalid' }],
      ]);
      expect(JSON.stringify(rows)).not.toContain(TOKEN);
    });

    it('a success records the roles the actor held, and ?actorRole= finds it', async () => {
      const { body } = await t.http
        .post('/api/v1/test-gated-widgets')
        .set({ 'x-test-subject': 'erin', 'x-test-roles': 'editor,operator' })
        .send({ name: 'w' })
        .expect(201);
      await t.http
        .post('/api/v1/test-gated-widgets')
        .set({ 'x-test-subject': 'vic', 'x-test-roles': 'viewer', 'x-test-deny': '403' })
        .send({ name: 'w' })
        .expect(403);
      const rows = await entries();
      expect(rows.map((r) => [r.outcome, r.actor_id, r.actor_roles, r.entity_id])).toEqual([
        ['SUCCESS', 'erin', ['editor', 'operator'], String(body.id)],
        ['DENIED', 'vic', ['viewer'], '-'],
      ]);
    });
  });

  describe('flood', () => {
    it(`bounds 1,000 rejected attempts of one (ip, actor) to ${MAX_PER_MINUTE} entries plus a summary that accounts for the rest`, async () => {
      const rejections = t.app.get(AuditRejections);
      const attempt = () =>
        t.http
          .post('/api/v1/test-gated-widgets')
          .set({ 'x-test-subject': 'flooder', 'x-test-deny': '403' })
          .send({ name: 'x' })
          .expect(403);
      for (let sent = 0; sent < 1000; sent += 50) {
        await Promise.all(Array.from({ length: 50 }, attempt));
      }
      // Someone else from the same address has a budget of their own.
      await t.http
        .post('/api/v1/test-gated-widgets')
        .set({ 'x-test-subject': 'bystander', 'x-test-deny': '401' })
        .send({ name: 'x' })
        .expect(401);

      await t.app.get(AuditBackgroundQueue).flush();
      // The window is still open: the suppressed attempts are counted, not yet summarised.
      expect(rejections.closeWindows(Date.now())).toBe(0);
      expect(await countEntries(`details ? 'suppressed'`)).toBe(0);
      expect(await countEntries(`actor_id = 'flooder'`)).toBe(MAX_PER_MINUTE);

      // The window closes (driven here rather than waited for): one summary.
      expect(rejections.closeWindows(Date.now() + REJECTION_WINDOW_MS)).toBe(1);
      await t.app.get(AuditBackgroundQueue).flush();
      const { rows } = await t.db.query(
        `SELECT * FROM action_log WHERE actor_id = 'flooder' ORDER BY "timestamp", id`,
      );
      const single = rows.filter((r) => !('suppressed' in (r.details ?? {})));
      const summaries = rows.filter((r) => 'suppressed' in (r.details ?? {}));
      expect(single).toHaveLength(MAX_PER_MINUTE);
      expect(single.every((r) => r.outcome === 'DENIED' && r.status_code === 403)).toBe(true);
      expect(summaries).toHaveLength(1);
      expect(summaries[0]).toMatchObject({
        outcome: 'DENIED',
        action_type: 'CREATE',
        entity_type: 'TEST_WIDGET',
        entity_id: '-',
        status_code: null,
        details: { suppressed: 1000 - MAX_PER_MINUTE, statusCodes: { 403: 1000 - MAX_PER_MINUTE } },
      });
      expect(single.length + Number(summaries[0].details.suppressed)).toBe(1000);
      expect(await countEntries(`actor_id = 'bystander'`)).toBe(1);

      // A new window, a new budget.
      await attempt();
      expect(await countEntries(`actor_id = 'flooder' AND NOT details ? 'suppressed'`)).toBe(
        MAX_PER_MINUTE + 1,
      );
    });

    /** Counts without `flushAudit()`, which would close the open windows. */
    async function countEntries(where: string): Promise<number> {
      await t.app.get(AuditBackgroundQueue).flush();
      const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM action_log WHERE ${where}`);
      return rows[0].n as number;
    }
  });

  describe('reading the trail', () => {
    it('records each search, single read and history read as READ ACTION_LOG, with the filters used', async () => {
      await t.http.post('/api/v1/mcp-definitions').set('X-User-ID', 'alice').send(stdio);
      const [change] = await entries();
      await t.http
        .get('/api/v1/action-logs')
        .set('X-User-ID', 'audrey')
        .query({ actorId: 'alice', outcome: 'SUCCESS', limit: 5 })
        .expect(200);
      await t.http.get(`/api/v1/action-logs/${change.id}`).set('X-User-ID', 'audrey').expect(200);
      await t.http
        .get(`/api/v1/action-logs/entities/MCP_DEFINITION/${change.entity_id}`)
        .set('X-User-ID', 'audrey')
        .expect(200);
      await t.http.get('/api/v1/action-logs').query({ outcome: 'MAYBE' }).expect(400);
      await t.http.get('/api/v1/action-logs/999999').expect(404);

      const reads = await entries(`entity_type = 'ACTION_LOG'`);
      expect(reads.map((r) => [r.outcome, r.action_type, r.entity_id, r.status_code])).toEqual([
        ['SUCCESS', 'READ', 'search', 200],
        ['SUCCESS', 'READ', String(change.id), 200],
        ['SUCCESS', 'READ', 'search', 200],
        ['FAILURE', 'READ', 'search', 400],
        ['FAILURE', 'READ', '999999', 404],
      ]);
      expect(reads[0]).toMatchObject({
        actor_id: 'audrey',
        details: { filters: { actorId: 'alice', outcome: 'SUCCESS', limit: '5' } },
        path: '/api/v1/action-logs',
      });
      expect(reads[1].details).toBeNull();

      expect(reads[2].details).toEqual({
        filters: { entityType: 'MCP_DEFINITION', entityId: change.entity_id },
      });
    });

    it('a background batch with one entry that cannot be inserted stores the others and keeps that one pending', async () => {
      await t.db.query(`
        CREATE OR REPLACE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.actor_id = 'poison' THEN RAISE EXCEPTION 'poisoned entry'; END IF;
        RETURN NEW; END $$;
        CREATE TRIGGER test_poison BEFORE INSERT ON action_log
          FOR EACH ROW EXECUTE FUNCTION test_poison();`);
      try {
        for (const user of ['reader-1', 'poison', 'reader-2']) {
          await t.http.get('/api/v1/action-logs').set('X-User-ID', user).expect(200);
        }
        await t.flushAudit();
        const { rows } = await t.db.query(`SELECT actor_id FROM action_log ORDER BY id`);
        expect(rows.map((r) => r.actor_id)).toEqual(['reader-1', 'reader-2']);
        const { rows: pending } = await t.db.query(`SELECT entry, last_error FROM audit_outbox`);
        expect(pending).toEqual([
          {
            entry: expect.objectContaining({ actorId: 'poison', actionType: 'READ' }),
            last_error: expect.stringContaining('poisoned entry'),
          },
        ]);
      } finally {
        await t.db.query(`DROP TRIGGER test_poison ON action_log`);
      }
    });

    it('stores read entries in the background, and on shutdown', async () => {
      const other = await createTestApp({ databaseUrl: t.databaseUrl });
      await other.http.get('/api/v1/action-logs').set('X-User-ID', 'late-reader').expect(200);
      await other.close(); // no flush asked for: shutdown writes what is queued
      const { rows } = await t.db.query(`SELECT entity_id FROM action_log WHERE actor_id = $1`, [
        'late-reader',
      ]);
      expect(rows).toEqual([{ entity_id: 'search' }]);
    });
  });

  describe('query filters', () => {
    it('filters by outcome, status code and actor role, and every entry says all three', async () => {
      // Header mode without X-User-Roles holds every role: name the editor's alone.
      // (An HTTP definition: a stdio one is an admin's to create.)
      const editor = { 'X-User-Roles': 'editor' };
      const remote = { name: 'files', transport: 'sse', url: 'http://127.0.0.1:1/sse' };
      await t.http.post('/api/v1/mcp-definitions').set(editor).send(remote).expect(201);
      await t.http.post('/api/v1/mcp-definitions').set(editor).send(remote).expect(409);
      await t.http
        .post('/api/v1/test-gated-widgets')
        .set({ 'x-test-subject': 'ann', 'x-test-roles': 'auditor,viewer', 'x-test-deny': '403' })
        .send({ name: 'x' })
        .expect(403);
      await t.flushAudit();

      const q = async (query: Record<string, string>) =>
        (
          (await t.http.get('/api/v1/action-logs').query(query).expect(200)).body.items as {
            outcome: string;
            statusCode: number | null;
            actorRoles: string[];
            entityType: string;
          }[]
        ).filter((e) => e.entityType !== 'ACTION_LOG');
      expect((await q({ outcome: 'SUCCESS' })).map((e) => e.statusCode)).toEqual([201]);
      expect((await q({ outcome: 'FAILURE' })).map((e) => e.statusCode)).toEqual([409]);
      expect(await q({ outcome: 'DENIED' })).toEqual([
        expect.objectContaining({
          outcome: 'DENIED',
          statusCode: 403,
          actorRoles: ['auditor', 'viewer'],
        }),
      ]);
      expect((await q({ statusCode: '409' })).map((e) => e.outcome)).toEqual(['FAILURE']);
      expect((await q({ actorRole: 'auditor' })).map((e) => e.outcome)).toEqual(['DENIED']);
      expect(await q({ actorRole: 'admin' })).toEqual([]);
      for (const bad of [{ statusCode: '99' }, { statusCode: 'abc' }, { actorRole: 'a b' }]) {
        const res = await t.http.get('/api/v1/action-logs').query(bad);
        expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
      }
    });

    it('serves ?actorRole= from the GIN index and ?outcome= from the partial index', async () => {
      const plan = async (where: string) => {
        const c = await t.db.connect();
        try {
          await c.query('BEGIN');
          await c.query('SET LOCAL enable_seqscan = off');
          const { rows } = await c.query(`EXPLAIN SELECT id FROM action_log WHERE ${where}`);
          await c.query('ROLLBACK');
          return rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
        } finally {
          c.release();
        }
      };
      // Each monthly partition's index is named after the log's: action_log_2026_11_rejected_idx.
      expect(await plan(`actor_roles @> ARRAY['auditor']::text[]`)).toMatch(
        /action_log_\d{4}_\d{2}_actor_roles_idx/,
      );
      expect(await plan(`outcome = 'DENIED'`)).toMatch(/action_log_\d{4}_\d{2}_rejected_idx/);
    });
  });

  describe('when the log cannot be written', () => {
    it('keeps outcome, status and roles through the outbox, and the retrier stores them', async () => {
      await t.ddl(`
        CREATE OR REPLACE FUNCTION test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected audit failure'; END $$;
        CREATE TRIGGER test_fail_audit BEFORE INSERT ON action_log
          FOR EACH ROW EXECUTE FUNCTION test_fail_audit();`);
      try {
        await t.http
          .post('/api/v1/test-gated-widgets')
          .set({ 'x-test-subject': 'erin', 'x-test-roles': 'editor' })
          .send({ name: 'kept' })
          .expect(201);
        await t.http
          .post('/api/v1/test-gated-widgets')
          .set({ 'x-test-subject': 'vic', 'x-test-roles': 'viewer', 'x-test-deny': '403' })
          .send({ name: 'refused' })
          .expect(403);
        await t.flushAudit();
        const { rows: pending } = await t.db.query(
          `SELECT entry FROM audit_outbox ORDER BY occurred_at`,
        );
        expect(
          pending.map((r) => [r.entry.outcome, r.entry.statusCode, r.entry.actorRoles]),
        ).toEqual([
          ['SUCCESS', 201, ['editor']],
          ['DENIED', 403, ['viewer']],
        ]);
      } finally {
        await t.ddl(`DROP TRIGGER test_fail_audit ON action_log`);
      }
      expect(await t.app.get(AuditOutboxService).drain()).toBe(2);
      const rows = await entries();
      expect(rows.map((r) => [r.actor_id, r.outcome, r.status_code, r.actor_roles])).toEqual([
        ['erin', 'SUCCESS', 201, ['editor']],
        ['vic', 'DENIED', 403, ['viewer']],
      ]);
    });
  });

  describe('the migration', () => {
    it('gives existing entries SUCCESS, no status and no roles, and the outbox retrier fills in old pending entries the same way', async () => {
      const db = await createTestDatabase();
      const ds = new DataSource(dataSourceOptions({ url: db.url, entities: false }));
      await ds.initialize();
      try {
        // Back to before ActionOutcomes (and whatever came after it).
        const applied = async (name: string) =>
          (await ds.query<unknown[]>(`SELECT 1 FROM migrations WHERE name = $1`, [name])).length >
          0;
        while (await applied('ActionOutcomes1795800000000')) await ds.undoLastMigration();
        // An entry written by the old audit_write, and one left pending in the old format.
        await ds.query(`SELECT audit_write(gen_random_uuid(), 'old', 'CREATE', 'ACTION_LOG', '1',
                          NULL, NULL, NULL, NULL, NULL, NULL, NULL, false)`);
        await ds.query(`INSERT INTO audit_outbox (event_id, occurred_at, entry) VALUES
          (gen_random_uuid(), now(), '{"actorId":"pending","actionType":"CREATE","entityType":"ACTION_LOG","entityId":"2","details":null}')`);
        await ds.runMigrations();
        const app = await createTestApp({ databaseUrl: db.url });
        try {
          await app.app.get(AuditOutboxService).drain();
          const rows: unknown[] = await ds.query(
            `SELECT actor_id, outcome, status_code, actor_roles FROM action_log ORDER BY id`,
          );
          expect(rows).toEqual([
            { actor_id: 'old', outcome: 'SUCCESS', status_code: null, actor_roles: [] },
            { actor_id: 'pending', outcome: 'SUCCESS', status_code: null, actor_roles: [] },
          ]);
          // The old signature is gone: no caller can write an entry without an outcome.
          await expect(
            ds.query(`SELECT audit_write(gen_random_uuid(), 'x', 'CREATE', 'ACTION_LOG', '1',
                        NULL, NULL, NULL, NULL, NULL, NULL, NULL, false)`),
          ).rejects.toThrow(/does not exist/);
        } finally {
          await app.close();
        }
      } finally {
        await ds.destroy();
        await db.drop();
      }
    });
  });
});
