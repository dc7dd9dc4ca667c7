import { AuditOutboxService } from '@/modules/auditing';
import { captureProbesModuleMetadata } from './fixtures/capture-probes';
import { createWidgetsTable, widgetsModuleMetadata } from './fixtures/widgets';
import { createTestApp, type TestApp } from './helpers/test-app';

const FAIL_TRIGGER = `
  CREATE OR REPLACE FUNCTION test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN RAISE EXCEPTION 'injected audit failure'; END $$;
  CREATE TRIGGER test_fail_audit BEFORE INSERT ON action_log
    FOR EACH ROW EXECUTE FUNCTION test_fail_audit();`;
const QUIET_RETRIER = { AUDIT_RETRY_INTERVAL_MS: '600000' };
const REMOVE_TRIGGER = `DROP TRIGGER IF EXISTS test_fail_audit ON action_log`;

async function entries(t: TestApp, where = 'true', params: unknown[] = []) {
  const { rows } = await t.db.query(`SELECT * FROM action_log WHERE ${where} ORDER BY id`, params);
  return rows;
}

async function count(t: TestApp, table: string): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0].n);
}

describe('Auditing (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    // The tests drive the outbox retrier themselves: its timer must not race them.
    t = await createTestApp({
      metadata: {
        controllers: [
          ...widgetsModuleMetadata.controllers,
          ...captureProbesModuleMetadata.controllers,
        ],
        providers: [...widgetsModuleMetadata.providers, ...captureProbesModuleMetadata.providers],
      },
      env: QUIET_RETRIER,
    });
    await createWidgetsTable(t.db);
  });
  beforeEach(async () => {
    await t.ddl(REMOVE_TRIGGER);
    await t.truncate('action_log', 'audit_outbox', 'test_widgets', 'mcp_definitions');
  });
  afterAll(() => t.close());

  it('writes one entry after success, with every context field', async () => {
    const res = await t.http
      .post('/api/v1/test-widgets')
      .set('X-User-ID', 'alice')
      .set('X-Request-ID', 'req-ctx-1')
      .set('X-Correlation-ID', 'corr-ctx-1')
      .set('User-Agent', 'audit-test/1.0')
      .send({ name: 'sprocket', meta: { size: 3 } })
      .expect(201);

    const rows = await entries(t);
    expect(rows).toHaveLength(1);
    const e = rows[0];
    expect(e).toMatchObject({
      actor_id: 'alice',
      action_type: 'CREATE',
      entity_type: 'TEST_WIDGET',
      entity_id: String(res.body.id),
      details: { id: res.body.id, name: 'sprocket', meta: { size: 3 } },
      request_id: 'req-ctx-1',
      correlation_id: 'corr-ctx-1',
      user_agent: 'audit-test/1.0',
      method: 'POST',
      path: '/api/v1/test-widgets',
    });
    expect(e.ip).toMatch(/127\.0\.0\.1|::1/);
    expect(e.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.timestamp).toBeInstanceOf(Date);

    const api = await t.http.get(`/api/v1/action-logs/${e.id}`).expect(200);
    expect(api.body).toMatchObject({
      id: String(e.id),
      actorId: 'alice',
      actionType: 'CREATE',
      entityType: 'TEST_WIDGET',
      entityId: String(res.body.id),
      requestId: 'req-ctx-1',
      correlationId: 'corr-ctx-1',
      method: 'POST',
      path: '/api/v1/test-widgets',
    });
    expect(api.body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('stores hostile text in an entry exactly as given (quotes, backslashes, SQL, unicode)', async () => {
    const name = `O'Reilly \\ "q" $$ '); DROP TABLE action_log; -- 你好 🚀`;
    const meta = { "it's": ["a\\'b", '\u00e9\u0301', { "E'": 'x\ny\tz' }], n: 1.5e-7 };
    const res = await t.http
      .post('/api/v1/test-widgets')
      .set('User-Agent', `agent "with" 'quotes' \\`)
      .send({ name, meta })
      .expect(201);
    const rows = await entries(t);
    expect(rows).toHaveLength(1);
    expect(rows[0].details).toEqual({ id: res.body.id, name, meta });
    expect(rows[0].user_agent).toBe(`agent "with" 'quotes' \\`);
  });

  it('uses the :id route param and the declared details for an update', async () => {
    const { body } = await t.http.post('/api/v1/test-widgets').send({ name: 'a' }).expect(201);
    await t.http
      .patch(`/api/v1/test-widgets/${body.id}`)
      .set('X-User-ID', 'bob')
      .send({ name: 'b' })
      .expect(200);
    const rows = await entries(t, `action_type = 'UPDATE'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      entity_id: String(body.id),
      actor_id: 'bob',
      details: { renamedTo: 'b' },
    });
  });

  it('commits nothing and writes no entry when the handler throws after writing', async () => {
    const res = await t.http
      .post('/api/v1/test-widgets/fail-after-write')
      .send({ name: 'ghost' })
      .expect(500);
    expect(res.body).toEqual({
      statusCode: 500,
      message: 'Internal server error',
      error: 'Internal Server Error',
      requestId: res.headers['x-request-id'],
    });
    expect(await count(t, 'test_widgets')).toBe(0);
    await t.flushAudit();
    // The attempt is on record, as a failure: no SUCCESS entry, the change rolled back.
    const rows = await entries(t);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      outcome: 'FAILURE',
      status_code: 500,
      action_type: 'CREATE',
      entity_type: 'TEST_WIDGET',
      entity_id: '-',
      details: { statusCode: 500, error: 'Internal Server Error' },
    });
  });

  it('audits what an audited call saved before it threw, when its caller caught it and committed', async () => {
    const res = await t.http
      .post('/api/v1/test-capture/widget-despite-failure/probe-1')
      .set('X-User-ID', 'dora')
      .expect(201);

    // The definition the inner call saved committed with the widget…
    const { rows: defs } = await t.db.query(`SELECT id::text AS id, name FROM mcp_definitions`);
    expect(defs).toEqual([{ id: expect.any(String), name: 'probe-1' }]);
    // …so it is on record, next to the widget's own entry, under the same request.
    const rows = await entries(t);
    expect(rows.map((r) => [r.action_type, r.entity_type, r.entity_id, r.actor_id])).toEqual([
      ['CREATE', 'TEST_WIDGET', String(res.body.id), 'dora'],
      ['CREATE', 'MCP_DEFINITION', defs[0].id, 'dora'],
    ]);
    expect(rows[1].details).toMatchObject({ id: defs[0].id, name: 'probe-1' });
    expect(rows[1].request_id).toBe(rows[0].request_id);
  });

  it('does not list a field set and set back within one request among the changes', async () => {
    const def = await t.http
      .post('/api/v1/mcp-definitions')
      .send({ name: 'flip', transport: 'stdio', command: 'npx', description: 'as it was' })
      .expect(201);
    await t.truncate('action_log');

    await t.http
      .post(`/api/v1/test-capture/mcp/${def.body.id}/flip-description-and-tag`)
      .expect(201);

    const rows = await entries(t);
    expect(rows.map((r) => [r.action_type, r.entity_type, r.entity_id])).toEqual([
      ['UPDATE', 'MCP_DEFINITION', def.body.id],
    ]);
    expect(rows[0].details).toEqual({ changes: { tags: { from: [], to: ['flipped'] } } });
  });

  it('changes nothing for a request that fails validation, and records each as a FAILURE', async () => {
    await t.http.post('/api/v1/test-widgets').send({ name: 42 }).expect(400);
    await t.http.post('/api/v1/test-widgets').send({ name: 'x', extra: true }).expect(400);
    expect(await count(t, 'test_widgets')).toBe(0);
    await t.flushAudit();
    const rows = await entries(t);
    expect(rows.map((r) => [r.outcome, r.status_code, r.details.statusCode])).toEqual([
      ['FAILURE', 400, 400],
      ['FAILURE', 400, 400],
    ]);
  });

  it('takes the actor from X-User-ID, `anonymous` without it, and refuses a malformed one or `system`', async () => {
    await t.http
      .post('/api/v1/test-widgets')
      .set('X-User-ID', 'carol@example.com')
      .send({ name: 'c' })
      .expect(201);
    await t.http.post('/api/v1/test-widgets').send({ name: 'd' }).expect(201);
    const bad = await t.http
      .post('/api/v1/test-widgets')
      .set('X-User-ID', 'x'.repeat(129))
      .send({ name: 'e' })
      .expect(400);
    expect(bad.body.message).toMatch(/X-User-ID/);
    for (const reserved of ['system', 'SYSTEM']) {
      const impostor = await t.http
        .post('/api/v1/test-widgets')
        .set('X-User-ID', reserved)
        .send({ name: 'f' })
        .expect(400);
      expect(impostor.body.message).toMatch(/reserved for the engine and jobs/);
    }
    await t.flushAudit();
    const rows = await entries(t);
    expect(rows.map((r) => [r.actor_id, r.outcome])).toEqual([
      ['carol@example.com', 'SUCCESS'],
      ['anonymous', 'SUCCESS'],
      // A refused identity is not taken: each failed attempt is the anonymous default's.
      ['anonymous', 'FAILURE'],
      ['anonymous', 'FAILURE'],
      ['anonymous', 'FAILURE'],
    ]);
    expect(await count(t, 'test_widgets')).toBe(2);
  });

  it('writes no entry for unaudited handlers', async () => {
    await t.http.post('/api/v1/test-widgets/unaudited').send({ name: 'quiet' }).expect(201);
    expect(await count(t, 'test_widgets')).toBe(1);
    expect(await count(t, 'action_log')).toBe(0);
  });

  describe('query API', () => {
    it('lists newest first and pages stably across 260 entries sharing one timestamp', async () => {
      await t.db.query(`SELECT audit_ensure_partitions('2025-12-01', '2026-01-31')`);
      await t.db.query(`
        INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id)
        SELECT gen_random_uuid(), '2026-01-01T00:00:00.123456Z', 'bulk', 'READ', 'ACTION_LOG', g::text
        FROM generate_series(1, 260) g`);
      await t.db.query(`
        INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id)
        VALUES (gen_random_uuid(), '2026-01-02T00:00:00Z', 'later', 'READ', 'ACTION_LOG', 'newest'),
               (gen_random_uuid(), '2025-12-31T00:00:00Z', 'earlier', 'READ', 'ACTION_LOG', 'oldest')`);
      const seen: { id: string; timestamp: string; entityId: string }[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { body: { items: typeof seen; nextCursor: string | null } } = await t.http
          .get('/api/v1/action-logs')
          .query({ limit: 50, ...(cursor ? { cursor } : {}) })
          .expect(200);
        seen.push(...res.body.items);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(6);
      expect(seen).toHaveLength(262);
      expect(new Set(seen.map((e) => e.id)).size).toBe(262);
      expect(seen[0].entityId).toBe('newest');
      expect(seen[261].entityId).toBe('oldest');
      const tied = seen.slice(1, 261);
      expect(tied.every((e) => e.timestamp === '2026-01-01T00:00:00.123456Z')).toBe(true);
      const ids = tied.map((e) => BigInt(e.id));
      expect(ids.every((id, i) => i === 0 || id < ids[i - 1])).toBe(true);
    });

    it('orders entries written one after another newest first', async () => {
      for (const name of ['first', 'second', 'third']) {
        await t.http.post('/api/v1/test-widgets').send({ name }).expect(201);
      }
      const res = await t.http
        .get('/api/v1/action-logs')
        .query({ entityType: 'TEST_WIDGET' })
        .expect(200);
      expect(res.body.items.map((e: { details: { name: string } }) => e.details.name)).toEqual([
        'third',
        'second',
        'first',
      ]);
      expect(res.body.nextCursor).toBeNull();
    });

    it('filters by every field, and serves one entity history', async () => {
      const a = await t.http
        .post('/api/v1/test-widgets')
        .set({ 'X-User-ID': 'ann', 'X-Request-ID': 'rq-a', 'X-Correlation-ID': 'flow-1' })
        .send({ name: 'a' })
        .expect(201);
      await t.http
        .patch(`/api/v1/test-widgets/${a.body.id}`)
        .set({ 'X-User-ID': 'ben', 'X-Request-ID': 'rq-b', 'X-Correlation-ID': 'flow-1' })
        .send({ name: 'a2' })
        .expect(200);
      await t.http
        .post('/api/v1/test-widgets')
        .set({ 'X-User-ID': 'ben' })
        .send({ name: 'z' })
        .expect(201);

      const q = async (query: Record<string, string>) =>
        (await t.http.get('/api/v1/action-logs').query(query).expect(200)).body.items as {
          actorId: string;
          actionType: string;
        }[];
      expect(await q({ actorId: 'ben' })).toHaveLength(2);
      expect(await q({ actionType: 'UPDATE' })).toHaveLength(1);
      expect(await q({ entityType: 'TEST_WIDGET', entityId: String(a.body.id) })).toHaveLength(2);
      expect(await q({ requestId: 'rq-a' })).toHaveLength(1);
      expect(await q({ correlationId: 'flow-1' })).toHaveLength(2);
      // (Entity type too: the searches themselves are on record, as READ ACTION_LOG.)
      const window = { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' };
      expect(await q({ ...window, entityType: 'TEST_WIDGET' })).toHaveLength(3);
      expect(await q({ to: '2000-01-01T00:00:00Z' })).toHaveLength(0);

      const history = await t.http
        .get(`/api/v1/action-logs/entities/TEST_WIDGET/${a.body.id}`)
        .expect(200);
      expect(history.body.items.map((e: { actionType: string }) => e.actionType)).toEqual([
        'UPDATE',
        'CREATE',
      ]);
    });

    it('answers bad filters with 400 and unknown ids with 404', async () => {
      for (const query of [
        { limit: '0' },
        { limit: '201' },
        { actionType: 'EXPLODE' },
        { from: 'yesterday' },
        { entityType: 'lower case' },
        { cursor: 'not-a-cursor' },
        { unknownFilter: 'x' },
      ]) {
        const res = await t.http.get('/api/v1/action-logs').query(query);
        expect({ query, status: res.status }).toEqual({ query, status: 400 });
      }
      await t.http.get('/api/v1/action-logs/999999').expect(404);
      await t.http.get('/api/v1/action-logs/9999999999999999999').expect(404); // over bigint
      const crafted = Buffer.from(JSON.stringify(['1', '5'])).toString('base64url');
      await t.http.get('/api/v1/action-logs').query({ cursor: crafted }).expect(400);
      await t.http.get('/api/v1/action-logs/abc').expect(400);
    });
  });

  describe('when the entry insert fails (fail-open, the default)', () => {
    it('commits the change, keeps the entry pending, reports it, and stores it exactly once after recovery', async () => {
      const outbox = t.app.get(AuditOutboxService);
      const before = (await outbox.backlog()).failuresTotal;
      await t.ddl(FAIL_TRIGGER);

      const created: number[] = [];
      for (const name of ['p1', 'p2', 'p3']) {
        const res = await t.http
          .post('/api/v1/test-widgets')
          .set('X-User-ID', 'dana')
          .send({ name })
          .expect(201);
        created.push(res.body.id);
      }
      expect(await count(t, 'test_widgets')).toBe(3);
      expect(await count(t, 'action_log')).toBe(0);
      expect(await count(t, 'audit_outbox')).toBe(3);

      const degraded = await t.http.get('/api/v1/health').expect(200);
      expect(degraded.body.status).toBe('degraded');
      expect(degraded.body.details.auditing).toMatchObject({
        status: 'degraded',
        pending: 3,
        failuresTotal: before + 3,
      });
      // The error text is for admins (the detailed view), not the public health answer.
      expect(degraded.body.details.auditing).not.toHaveProperty('lastError');
      expect((await outbox.backlog()).lastError).toMatch(/injected audit failure/);

      // Still failing: a retry stores nothing and loses nothing.
      expect(await outbox.drain()).toBe(0);
      expect(await count(t, 'audit_outbox')).toBe(3);

      await t.ddl(REMOVE_TRIGGER);
      expect(await outbox.drain()).toBe(3);
      expect(await outbox.drain()).toBe(0);

      const rows = await entries(t);
      expect(rows.map((r) => r.entity_id)).toEqual(created.map(String));
      expect(rows.every((r) => r.actor_id === 'dana' && r.path === '/api/v1/test-widgets')).toBe(
        true,
      );
      expect(await count(t, 'audit_outbox')).toBe(0);

      const healthy = await t.http.get('/api/v1/health').expect(200);
      expect(healthy.body.status).toBe('ok');
      expect(healthy.body.details.auditing).toMatchObject({
        pending: 0,
        failuresTotal: before + 3,
      });
    });

    it('keeps the time of the change, not of the retry', async () => {
      await t.ddl(FAIL_TRIGGER);
      await t.http.post('/api/v1/test-widgets').send({ name: 'early' }).expect(201);
      const { rows } = await t.db.query<{ occurred_at: Date }>(
        `SELECT occurred_at FROM audit_outbox`,
      );
      await t.ddl(REMOVE_TRIGGER);
      await t.http.post('/api/v1/test-widgets').send({ name: 'late' }).expect(201);
      await t.app.get(AuditOutboxService).drain();
      const list = await t.http.get('/api/v1/action-logs').expect(200);
      expect(list.body.items.map((e: { details: { name: string } }) => e.details.name)).toEqual([
        'late',
        'early',
      ]);
      const stored = await entries(t, `details->>'name' = 'early'`);
      expect(stored[0].timestamp.getTime()).toBe(rows[0].occurred_at.getTime());
    });

    it('stores entries left pending by a process that stopped, when the next one starts', async () => {
      await t.ddl(FAIL_TRIGGER);
      // Another app instance on this database: it fails to audit, then stops.
      const first = await createTestApp({
        metadata: widgetsModuleMetadata,
        databaseUrl: t.databaseUrl,
        env: QUIET_RETRIER,
      });
      await first.http
        .post('/api/v1/test-widgets')
        .set('X-User-ID', 'eve')
        .send({ name: 'r1' })
        .expect(201);
      await first.http
        .post('/api/v1/test-widgets')
        .set('X-User-ID', 'eve')
        .send({ name: 'r2' })
        .expect(201);
      await first.close();
      expect(await count(t, 'audit_outbox')).toBe(2);
      await t.ddl(REMOVE_TRIGGER);

      const second = await createTestApp({
        metadata: widgetsModuleMetadata,
        databaseUrl: t.databaseUrl,
        env: QUIET_RETRIER,
      });
      try {
        await second.app.get(AuditOutboxService).settled();
        expect(await count(t, 'audit_outbox')).toBe(0);
        const rows = await entries(t);
        expect(rows.map((r) => [r.actor_id, r.details.name])).toEqual([
          ['eve', 'r1'],
          ['eve', 'r2'],
        ]);
      } finally {
        await second.close();
      }
    });
  });

  describe('AUDIT_FAILURE_POLICY=fail-closed', () => {
    it('fails the request and commits nothing when the entry cannot be written', async () => {
      const closed = await createTestApp({
        metadata: widgetsModuleMetadata,
        databaseUrl: t.databaseUrl,
        env: { ...QUIET_RETRIER, AUDIT_FAILURE_POLICY: 'fail-closed' },
      });
      try {
        await closed.http.post('/api/v1/test-widgets').send({ name: 'ok' }).expect(201);
        await t.ddl(FAIL_TRIGGER);
        const res = await closed.http
          .post('/api/v1/test-widgets')
          .send({ name: 'blocked' })
          .expect(503);
        expect(res.body.message).toMatch(/audit trail cannot be written/);
        expect((await t.db.query(`SELECT name FROM test_widgets`)).rows).toEqual([{ name: 'ok' }]);
        expect(await count(t, 'action_log')).toBe(1);
        // The refused attempt's own FAILURE entry has no change to roll back: it is kept
        // pending like under fail-open, never lost.
        await closed.flushAudit();
        const { rows } = await t.db.query(`SELECT entry FROM audit_outbox`);
        expect(rows.map((r) => [r.entry.outcome, r.entry.statusCode])).toEqual([['FAILURE', 503]]);
      } finally {
        await closed.close();
      }
    });
  });
});
