import { AuditOutboxService } from '@/modules/auditing';
import { createGadgetsTable, gadgetsFixture } from './fixtures/gadgets';
import { createWidgetsTable, widgetsModuleMetadata } from './fixtures/widgets';
import { createTestApp, type TestApp } from './helpers/test-app';

const FAIL_TRIGGER = `
  CREATE OR REPLACE FUNCTION test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN RAISE EXCEPTION 'injected audit failure in constraint test_secret_ck'; END $$;
  CREATE TRIGGER test_fail_audit BEFORE INSERT ON action_log
    FOR EACH ROW EXECUTE FUNCTION test_fail_audit();`;
const REMOVE_TRIGGER = `DROP TRIGGER IF EXISTS test_fail_audit ON action_log`;
// The tests drive the outbox retrier themselves: its timer must not race them.
const QUIET_RETRIER = { AUDIT_RETRY_INTERVAL_MS: '600000' };

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Polls `condition` until it holds or `ms` pass; returns whether it held. */
async function eventually(condition: () => boolean | Promise<boolean>, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return condition();
}

const metadata = {
  controllers: [...widgetsModuleMetadata.controllers, ...gadgetsFixture.metadata.controllers],
  providers: [...widgetsModuleMetadata.providers, ...gadgetsFixture.metadata.providers],
};

describe('Hardening (e2e)', () => {
  let t: TestApp;
  const lines: string[] = [];
  const logged = (): LogLine[] => lines.map((l) => JSON.parse(l) as LogLine);

  beforeAll(async () => {
    t = await createTestApp({
      metadata,
      entities: gadgetsFixture.entities,
      env: { ...QUIET_RETRIER, LOG_LEVEL: 'info' },
      logStream: { write: (line: string) => void lines.push(line) },
    });
    await createWidgetsTable(t.db);
    await createGadgetsTable(t.db);
  });
  beforeEach(async () => {
    await t.ddl(REMOVE_TRIGGER);
    await t.truncate('action_log', 'audit_outbox', 'test_widgets', 'test_gadgets');
    lines.length = 0;
  });
  afterAll(() => t.close());

  describe('with AUDIT_FAILURE_POLICY=fail-closed and the log unwritable', () => {
    let closed: TestApp;
    beforeAll(async () => {
      closed = await createTestApp({
        metadata: widgetsModuleMetadata,
        databaseUrl: t.databaseUrl,
        env: { ...QUIET_RETRIER, AUDIT_FAILURE_POLICY: 'fail-closed' },
      });
    });
    afterAll(() => closed.close());

    it('reports auditing down while writes fail, and up once a write succeeds', async () => {
      await closed.http.get('/api/v1/health').expect(200);
      await t.ddl(FAIL_TRIGGER);
      const refused = await closed.http.post('/api/v1/test-widgets').send({ name: 'w1' });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBeDefined();
      await closed.flushAudit();

      const down = await closed.http.get('/api/v1/health').expect(503);
      expect(down.headers['retry-after']).toBeDefined();
      expect(down.body.status).toBe('error');
      expect(down.body.details.auditing).toMatchObject({
        status: 'down',
        lastWrite: 'refused',
        lastFailureAt: expect.any(String),
      });
      expect(down.body.details.database.status).toBe('up');

      await t.ddl(REMOVE_TRIGGER);
      await closed.http.post('/api/v1/test-widgets').send({ name: 'w2' }).expect(201);
      // The refused attempt's entry waited in the outbox: the retrier stores it.
      await closed.app.get(AuditOutboxService).drain();
      const up = await closed.http.get('/api/v1/health').expect(200);
      expect(up.body.status).toBe('ok');
      expect(up.body.details.auditing).toMatchObject({ status: 'up', lastWrite: 'stored' });
    });

    it('turns up again without a write once the retrier proves the log writable', async () => {
      await t.ddl(FAIL_TRIGGER);
      await closed.http.post('/api/v1/test-widgets').send({ name: 'w3' }).expect(503);
      // The refused attempt's own entry, written after the fact, goes to the outbox: kept
      // pending, it must not make the trail look merely degraded while changes are refused.
      await closed.flushAudit();
      const outbox = closed.app.get(AuditOutboxService);
      await outbox.drain(); // still unwritable: the probe fails
      await closed.http.get('/api/v1/health').expect(503);

      await t.ddl(REMOVE_TRIGGER);
      await outbox.drain();
      const up = await closed.http.get('/api/v1/health').expect(200);
      expect(up.body.details.auditing.status).toBe('up');
      // The probe stored nothing.
      const { rows } = await t.db.query(
        `SELECT 1 FROM action_log WHERE entity_type = 'AUDIT_PROBE'`,
      );
      expect(rows).toEqual([]);
    });
  });

  it('keeps error details out of the public /health; an admin sees them at /health/audit', async () => {
    await t.ddl(FAIL_TRIGGER);
    await t.http.post('/api/v1/test-widgets').send({ name: 'p1' }).expect(201);
    const res = await t.http.get('/api/v1/health').expect(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.details.auditing).toMatchObject({ status: 'degraded', pending: 1 });
    expect(JSON.stringify(res.body)).not.toMatch(/test_secret_ck|injected/);
    expect(res.body.details.auditing).not.toHaveProperty('lastError');
    const detailed = await t.app.get(AuditOutboxService).backlog();
    expect(detailed.lastError).toMatch(/injected audit failure/);
    const admin = await t.http.get('/api/v1/health/audit').set('X-User-Roles', 'admin').expect(200);
    expect(admin.body).toMatchObject({ pending: 1, lastError: expect.stringMatching(/injected/) });
    await t.http.get('/api/v1/health/audit').set('X-User-Roles', 'auditor').expect(403);
  });

  it('logs one summary line per retry pass, not one per pending entry', async () => {
    await t.ddl(FAIL_TRIGGER);
    for (let i = 0; i < 5; i++)
      await t.http
        .post('/api/v1/test-widgets')
        .send({ name: `s${i}` })
        .expect(201);
    lines.length = 0;
    expect(await t.app.get(AuditOutboxService).drain()).toBe(0);

    const retrier = logged().filter((l) => l.context === 'AuditOutboxService');
    expect(retrier).toHaveLength(1);
    expect(retrier[0]).toMatchObject({
      stored: 0,
      stillFailing: 5,
      firstError: expect.stringContaining('injected audit failure'),
    });
  });

  it('logs a pool error (a connection killed by the server) as a JSON line, not on the console', async () => {
    const consoleSpies = (['log', 'info', 'warn', 'error'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation(() => undefined),
    );
    try {
      // Several concurrent requests leave several idle connections in the app's pool.
      await Promise.all(
        Array.from({ length: 4 }, () => t.http.get('/api/v1/action-logs').expect(200)),
      );
      const { rows } = await t.db.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'mcp-backend' AND state = 'idle'`,
      );
      expect(rows[0].n).toBeGreaterThan(0);
      const seen = await eventually(() =>
        lines.some((l) => l.includes('Postgres pool raised an error')),
      );
      expect(seen).toBe(true);
      expect(() => logged()).not.toThrow();
      expect(logged().find((l) => l.msg.includes('Postgres pool raised an error'))).toMatchObject({
        level: 40,
        context: 'TypeORM',
      });
      for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
      // The pool drops the dead connections and goes on: a request that drew one before its
      // error arrived gets a clear 503, the next ones a live connection.
      const statuses: number[] = [];
      for (let i = 0; i <= rows[0].n && statuses[statuses.length - 1] !== 200; i++) {
        const res = await t.http.get('/api/v1/action-logs');
        statuses.push(res.status);
      }
      expect(statuses[statuses.length - 1]).toBe(200);
      expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    } finally {
      for (const spy of consoleSpies) spy.mockRestore();
    }
  });

  it('records a secret field of an audited entity as { from, to } in the UPDATE diff', async () => {
    const created = await t.http
      .post('/api/v1/test-gadgets')
      .send({ name: 'g1', apiToken: 'tok-1' })
      .expect(201);
    await t.http
      .patch(`/api/v1/test-gadgets/${created.body.id}`)
      .send({ name: 'g2', apiToken: 'tok-2' })
      .expect(200);

    const { rows } = await t.db.query<{ action_type: string; details: Record<string, unknown> }>(
      `SELECT action_type, details FROM action_log WHERE entity_type = 'TEST_GADGET' ORDER BY id`,
    );
    expect(rows.map((r) => r.action_type)).toEqual(['CREATE', 'UPDATE']);
    expect(rows[0].details).toMatchObject({ name: 'g1', apiToken: '[REDACTED]' });
    expect(rows[1].details).toEqual({
      changes: {
        name: { from: 'g1', to: 'g2' },
        apiToken: { from: '[REDACTED]', to: '[REDACTED]' },
      },
    });
    expect(JSON.stringify(rows)).not.toMatch(/tok-/);
  });
});
