import { get, type IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { createTestApp, type TestApp } from './helpers/test-app';
import { startListening } from './helpers/raw-http';

const EXPORT = '/api/v1/action-logs/export';

const csv = (text: string): string[][] => {
  const records: unknown = parse(text);
  return records as string[][];
};

/** Entries whose text a spreadsheet would run as a formula, and plain ones. */
const SEED = `
  INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
    details, outcome)
  VALUES
    (gen_random_uuid(), now() - interval '5 minutes', '=HYPERLINK("http://x")', 'CREATE',
     'MCP_DEFINITION', '+1', '{"note": "-2+3"}', 'SUCCESS'),
    (gen_random_uuid(), now() - interval '4 minutes', '@SUM(A1)', 'UPDATE', 'MCP_DEFINITION',
     '-5', '{"a": "b, \\"c\\""}', 'SUCCESS'),
    (gen_random_uuid(), now() - interval '3 minutes', E'\\tcmd', 'DELETE', 'WORKFLOW_RUN',
     E'\\rx', null, 'FAILURE'),
    (gen_random_uuid(), now() - interval '2 minutes', 'alice', 'READ', 'WORKFLOW_RUN', '9',
     '{"line": "one\\ntwo"}', 'SUCCESS')`;

describe('Action log export (e2e)', () => {
  let t: TestApp;
  /** For raw clients (supertest unzips on its own, and cannot hang up mid-body). */
  let port: number;

  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '0' } });
    port = await startListening(t.app);
  });
  beforeEach(async () => {
    await t.truncate('action_log', 'audit_outbox');
    await t.db.query(SEED);
    // Sealed now, so the sealer cannot change an entry between a search and an export.
    await t.seal();
  });
  afterAll(() => t.close());

  const search = async (query: Record<string, string> = {}) =>
    (
      await t.http
        .get('/api/v1/action-logs')
        .query({ ...query, limit: 200 })
        .expect(200)
    ).body.items as Record<string, unknown>[];

  it('streams NDJSON: one entry per line, exactly as the search returns them, filters applied', async () => {
    for (const entityType of ['MCP_DEFINITION', 'WORKFLOW_RUN']) {
      const expected = await search({ entityType });
      expect(expected).toHaveLength(2);
      const res = await t.http.get(EXPORT).query({ entityType }).expect(200);
      expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(res.headers['content-disposition']).toBe('attachment; filename="action-log.ndjson"');
      const lines = res.text.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((l) => JSON.parse(l))).toEqual(expected);
    }

    const filtered = await t.http
      .get(EXPORT)
      .query({ entityType: 'WORKFLOW_RUN', outcome: 'FAILURE' })
      .expect(200);
    expect(
      filtered.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).entityId),
    ).toEqual(['\rx']);
    await t.http.get(EXPORT).query({ format: 'xml' }).expect(400);
    await t.http.get(EXPORT).query({ limit: '5' }).expect(400);
  });

  it('writes CSV with a header, JSON details, and formula cells defused with a quote', async () => {
    const res = await t.http
      .get(EXPORT)
      .query({ format: 'csv', entityType: 'MCP_DEFINITION' })
      .expect(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    const [header, ...rows] = csv(res.text);
    expect(header).toEqual([
      'id',
      'eventId',
      'timestamp',
      'actorId',
      'actionType',
      'entityType',
      'entityId',
      'details',
      'requestId',
      'correlationId',
      'ip',
      'userAgent',
      'method',
      'path',
      'outcome',
      'statusCode',
      'actorRoles',
      'seq',
      'hash',
      'hashVersion',
    ]);
    const cell = (row: string[], name: string) => row[header.indexOf(name)];
    expect(rows.map((r) => [cell(r, 'actorId'), cell(r, 'entityId'), cell(r, 'details')])).toEqual([
      ["'@SUM(A1)", "'-5", '{"a": "b, \\"c\\""}'],
      ['\'=HYPERLINK("http://x")', "'+1", '{"note": "-2+3"}'],
    ]);
    expect(cell(rows[0], 'actorRoles')).toBe('[]');
    expect(cell(rows[0], 'timestamp')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const all = csv(
      (await t.http.get(EXPORT).query({ format: 'csv', outcome: 'FAILURE' }).expect(200)).text,
    );
    expect([cell(all[1], 'actorId'), cell(all[1], 'entityId')]).toEqual(["'\tcmd", "'\rx"]);
  });

  it('gzips when the client accepts it', async () => {
    const plain = await t.http.get(EXPORT).query({ actionType: 'CREATE' }).expect(200);
    const { headers, body } = await new Promise<{
      headers: IncomingMessage['headers'];
      body: Buffer;
    }>((resolve, reject) => {
      get(
        {
          port,
          host: '127.0.0.1',
          path: `${EXPORT}?actionType=CREATE`,
          headers: { 'Accept-Encoding': 'gzip, deflate' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        },
      ).on('error', reject);
    });
    expect(headers['content-encoding']).toBe('gzip');
    expect(headers.vary).toMatch(/Accept-Encoding/);
    expect(gunzipSync(body).toString('utf8')).toBe(plain.text);
  });

  it('is on record as one READ entry with the filters, the format and the rows sent', async () => {
    await t.http
      .get(EXPORT)
      .set('X-User-ID', 'eve')
      .query({ format: 'csv', entityType: 'MCP_DEFINITION' })
      .expect(200);
    const audit = await t.entries(`actor_id = 'eve'`);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action_type: 'READ',
      entity_type: 'ACTION_LOG',
      entity_id: 'export',
      details: {
        filters: { entityType: 'MCP_DEFINITION' },
        format: 'csv',
        rows: 2,
        complete: true,
      },
    });
  });

  it('records a details filter in the READ entries redacted, never its secret values', async () => {
    const secret = 'sk-live-f1lter-5ecret';
    const details = encodeURIComponent(JSON.stringify({ password: secret, status: 'FAILED' }));
    await t.http.get(`/api/v1/action-logs?details=${details}`).expect(200);
    await t.http.get(`${EXPORT}?details=${details}`).expect(200);
    await t.flushAudit();
    const reads = await t.entries(`action_type = 'READ' AND entity_type = 'ACTION_LOG'`);
    expect(reads).toHaveLength(2);
    for (const read of reads) {
      expect(JSON.stringify(read)).not.toContain(secret);
      expect(read.details.filters.details).toEqual({ password: '[REDACTED]', status: 'FAILED' });
    }
  });

  it('is for auditors', async () => {
    await t.http.get(EXPORT).set('X-User-Roles', 'viewer,editor').expect(403);
  });

  it('stops the query and frees its connection when the client goes away', async () => {
    await t.db.query(`
      INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
        details)
      SELECT gen_random_uuid(), now() - g * interval '1 second', 'bulk-' || (g % 100), 'UPDATE',
        'MCP_DEFINITION', g::text, jsonb_build_object('pad', repeat('x', 300), 'g', g)
      FROM generate_series(1, 30000) g`);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = get({ port, host: '127.0.0.1', path: `${EXPORT}?format=ndjson` }, resolve);
      req.on('error', reject);
    });
    expect(response.statusCode).toBe(200);
    // Read one chunk, then stop reading: the server's writes back up to the cursor.
    await new Promise((resolve) => response.once('data', resolve));
    response.pause();
    const state = async (where: string, params: unknown[] = []) =>
      (
        await t.db.query<{ state: string; pid: number }>(
          `SELECT state, pid FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where}`,
          params,
        )
      ).rows;
    // Mid-export, the query holds its connection (inside its transaction)...
    const during = await state(`query LIKE '%row_to_json%' AND state <> 'idle'`);
    expect(during.map((r) => r.state)).toEqual([
      expect.stringMatching(/^(active|idle in transaction)$/),
    ]);
    // ... and holds it checked out of the app's pool.
    const pool = (t.app.get(DataSource).driver as unknown as { master: Pool }).master;
    const busy = () => pool.totalCount - pool.idleCount;
    expect(busy()).toBeGreaterThanOrEqual(1);

    response.destroy();
    let after = during;
    for (let i = 0; i < 500 && (after[0]?.state !== 'idle' || busy() > 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      after = await state('pid = $1', [during[0].pid]);
    }
    expect(after.map((r) => r.state)).toEqual(['idle']);
    expect(busy()).toBe(0);
    // On record as incomplete, with what was sent.
    const audit = await t.entries(`entity_id = 'export'`);
    expect(audit).toHaveLength(1);
    expect(audit[0].details).toMatchObject({ complete: false, format: 'ndjson' });
    expect(audit[0].details.rows).toBeLessThan(30_000);
  });
});
