import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditOutboxService } from '@/modules/auditing';
import { startEmbeddedPgProcess, type EmbeddedPgProcess } from './helpers/embedded-pg-process';
import { createTestApp, type TestApp } from './helpers/test-app';
import { databaseUrl, withAdmin } from './setup/test-database';

interface Outcome {
  status: number;
  id?: string;
  retryAfter?: string;
  startedAt: number;
}

/** Polls `condition` until it holds or `ms` pass; returns whether it held. */
async function eventually(condition: () => boolean | Promise<boolean>, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return condition();
}

/**
 * A real outage: this spec owns a throwaway embedded PostgreSQL, stops it while audited
 * writes keep coming, and starts it again on the same data directory and port. The shared
 * test server is never touched. Needs dist/ (see helpers/embedded-pg-process.ts).
 */
describe('Database outage (e2e, embedded PostgreSQL)', () => {
  let root: string;
  let dataDir: string;
  let pg: EmbeddedPgProcess;
  let t: TestApp;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcp-outage-'));
    dataDir = join(root, 'data');
    pg = await startEmbeddedPgProcess(dataDir);
    await withAdmin(pg.url, (c) => c.query('CREATE DATABASE outage'));
    // The app applies the migrations at start-up.
    t = await createTestApp({
      databaseUrl: databaseUrl(pg.url, 'outage'),
      env: { AUDIT_RETRY_INTERVAL_MS: '200' },
    });
  });
  afterAll(async () => {
    await t?.close();
    await pg?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After during the outage, loses no entry, and recovers by itself', async () => {
    const outcomes: Outcome[] = [];
    let writing = true;
    const writer = async (prefix: string) => {
      for (let i = 0; writing; i++) {
        const startedAt = Date.now();
        const res = await t.http
          .post('/api/v1/mcp-definitions')
          .set('X-User-ID', 'outage-test')
          .send({ name: `${prefix}-${i}`, transport: 'stdio', command: 'node' });
        outcomes.push({
          status: res.status,
          id: res.status === 201 ? (res.body as { id: string }).id : undefined,
          retryAfter: res.headers['retry-after'],
          startedAt,
        });
      }
    };
    const writers = [writer('a'), writer('b'), writer('c')];
    const ok = () => outcomes.filter((o) => o.status === 201);

    try {
      expect(await eventually(() => ok().length >= 10, 10_000)).toBe(true);

      await pg.stop();
      const stoppedAt = Date.now();
      const duringOutage = () => outcomes.filter((o) => o.startedAt >= stoppedAt);
      expect(await eventually(() => duringOutage().length >= 10, 10_000)).toBe(true);

      const health = await t.http.get('/api/v1/health');
      expect(health.status).toBe(503);
      expect(health.headers['retry-after']).toBeDefined();
      expect(health.body.details.database.status).toBe('down');
      expect(health.body.details.auditing.status).toBe('down');

      const restartAt = Date.now();
      const outage = duringOutage().filter((o) => o.startedAt < restartAt);
      expect(outage.length).toBeGreaterThanOrEqual(10);
      expect(outage.every((o) => o.status === 503 && o.retryAfter !== undefined)).toBe(true);

      pg = await startEmbeddedPgProcess(dataDir, pg.port);
      const backAt = Date.now();
      // Writes succeed again within a second, without anyone restarting the app.
      const recovered = await eventually(
        () => outcomes.some((o) => o.status === 201 && o.startedAt >= backAt),
        1000,
      );
      expect(recovered).toBe(true);
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    // Never a 500: every answer is a success or a 503 that says when to retry.
    expect(outcomes.filter((o) => o.status !== 201 && o.status !== 503)).toEqual([]);
    expect(outcomes.filter((o) => o.status === 503 && !o.retryAfter)).toEqual([]);

    // Entries kept pending (if any) are stored by the retrier: after it, the log is complete.
    await t.app.get(AuditOutboxService).drain();
    const { rows: entries } = await t.db.query<{ entity_id: string; n: number }>(
      `SELECT entity_id, count(*)::int AS n FROM action_log
       WHERE entity_type = 'MCP_DEFINITION' AND action_type = 'CREATE' AND outcome = 'SUCCESS'
       GROUP BY entity_id`,
    );
    const perId = new Map(entries.map((e) => [e.entity_id, e.n]));
    const created = ok().map((o) => o.id!);
    expect(created.filter((id) => perId.get(id) !== 1)).toEqual([]);
    const { rows: unaudited } = await t.db.query(
      `SELECT d.id FROM mcp_definitions d WHERE NOT EXISTS (
         SELECT 1 FROM action_log a WHERE a.entity_type = 'MCP_DEFINITION'
           AND a.action_type = 'CREATE' AND a.entity_id = d.id::text)`,
    );
    expect(unaudited).toEqual([]);
    expect(entries.every((e) => e.n === 1)).toBe(true);

    expect(
      await eventually(async () => (await t.http.get('/api/v1/health')).status === 200, 5000),
    ).toBe(true);
  });
});
