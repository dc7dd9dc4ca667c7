import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { AuditingService } from '@/modules/auditing';
import { COPY_STEP } from '@/modules/auditing/bulk/bulk-copy';
import type { BulkEntryInput } from '@/modules/auditing/bulk/bulk-entry.validator';
import { createTestApp, type TestApp } from './helpers/test-app';

const entry = (overrides: Record<string, unknown> = {}): BulkEntryInput => ({
  eventId: randomUUID(),
  actorId: 'importer',
  actionType: 'UPDATE',
  entityType: 'MCP_DEFINITION',
  entityId: '42',
  details: { status: 'OK' },
  ...overrides,
});

const BULK = '/api/v1/action-logs/bulk';

describe('Action log bulk ingest (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '0' } });
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox'));
  afterAll(() => t.close());

  const imported = async () =>
    (await t.entries(`actor_id <> 'admin-1'`)).filter((r) => r.entity_id !== 'bulk');

  it('stores every entry in one call, with the given times (µs), ids and metadata', async () => {
    const items = [
      entry({ timestamp: '2026-01-02T03:04:05.123456Z', requestId: 'req-1', ip: '10.0.0.1' }),
      entry({ actionType: 'DELETE', entityType: 'WORKFLOW_RUN', entityId: 7, outcome: 'FAILURE' }),
      entry({ actorRoles: ['editor', 'operator'], statusCode: 409, method: 'PATCH', path: '/x' }),
    ];
    const res = await t.http
      .post(BULK)
      .set('X-User-ID', 'admin-1')
      .set('X-Request-ID', 'bulk-call-1')
      .send({ entries: items })
      .expect(200);
    expect(res.body).toEqual({ stored: 3, alreadyPresent: 0 });
    const rows = await t.db.query(
      `SELECT event_id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ts,
              actor_id, action_type, entity_type, entity_id, details, request_id, ip, outcome,
              status_code, method, path, actor_roles
       FROM action_log WHERE actor_id = 'importer' ORDER BY id`,
    );
    expect(rows.rows.map((r) => r.event_id)).toEqual(items.map((i) => i.eventId));
    expect(rows.rows[0]).toMatchObject({
      ts: '2026-01-02T03:04:05.123456',
      request_id: 'req-1',
      ip: '10.0.0.1',
      details: { status: 'OK' },
      outcome: 'SUCCESS',
    });
    // Without its own request id an entry traces back to the bulk call.
    expect(rows.rows[1]).toMatchObject({
      entity_id: '7',
      outcome: 'FAILURE',
      request_id: 'bulk-call-1',
      action_type: 'DELETE',
    });
    expect(rows.rows[2]).toMatchObject({
      actor_roles: ['editor', 'operator'],
      status_code: 409,
      method: 'PATCH',
      path: '/x',
    });
  });

  it('stores nothing twice when a batch is retried, and says how many were already there', async () => {
    const items = Array.from({ length: 20 }, () => entry());
    await t.http
      .post(BULK)
      .send({ entries: items.slice(0, 12) })
      .expect(200);
    const retry = await t.http.post(BULK).send({ entries: items }).expect(200);
    expect(retry.body).toEqual({ stored: 8, alreadyPresent: 12 });
    const again = await t.http.post(BULK).send({ entries: items }).expect(200);
    expect(again.body).toEqual({ stored: 0, alreadyPresent: 20 });
    expect(await imported()).toHaveLength(20);
  });

  it('is on record as one entry with the counts', async () => {
    await t.http
      .post(BULK)
      .set('X-User-ID', 'admin-1')
      .send({ entries: [entry(), entry()] })
      .expect(200);
    const audit = await t.entries(`actor_id = 'admin-1'`);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action_type: 'CREATE',
      entity_type: 'ACTION_LOG',
      entity_id: 'bulk',
      details: { stored: 2, alreadyPresent: 0 },
      outcome: 'SUCCESS',
    });
  });

  it('redacts secrets in details like any entry', async () => {
    await t.http
      .post(BULK)
      .send({ entries: [entry({ details: { password: 'hunter2', nested: { apiKey: 'k' } } })] })
      .expect(200);
    const [row] = await imported();
    expect(row.details).toEqual({ password: '[REDACTED]', nested: { apiKey: '[REDACTED]' } });
  });

  it('checks every item first: one 400 lists each bad one by index and field, and nothing is stored', async () => {
    const res = await t.http
      .post(BULK)
      .send({
        entries: [
          entry(),
          entry({ actorId: '' }),
          entry({ eventId: 'not-a-uuid' }),
          entry({ timestamp: new Date(Date.now() + 3_600_000).toISOString() }),
          entry({ timestamp: '1999-12-31T23:59:59Z' }),
          entry({ timestamp: '2026-02-30T00:00:00Z' }),
          entry({ entityType: 'NO_SUCH_TYPE' }),
          entry({ actionType: 'PATCH' }),
          entry({ details: [1, 2] }),
          entry({ surprise: true }),
          entry({ statusCode: 99 }),
          'not an object',
        ],
      })
      .expect(400);
    const messages = res.body.message as string[];
    expect(messages.map((m) => m.split(':')[0])).toEqual([
      'entries[1].actorId',
      'entries[2].eventId',
      'entries[3].timestamp',
      'entries[4].timestamp',
      'entries[5].timestamp',
      'entries[6].entityType',
      'entries[7].actionType',
      'entries[8].details',
      'entries[9].surprise',
      'entries[10].statusCode',
      'entries[11]',
    ]);
    expect(await imported()).toEqual([]);
  });

  it('refuses an invalid entry found after storing began: nothing is stored, and the connection serves the next call', async () => {
    // Entries are checked a step at a time while the COPY stores the valid ones before them.
    const late = 5 * COPY_STEP + 7;
    const items = Array.from({ length: 6 * COPY_STEP }, (_, i) =>
      entry({ entityId: String(i), ...(i === late ? { statusCode: 42 } : {}) }),
    );
    const res = await t.http.post(BULK).send({ entries: items }).expect(400);
    expect(res.body.message).toEqual([
      `entries[${late}].statusCode: statusCode must be an integer from 100 to 599`,
    ]);
    expect(await imported()).toEqual([]);
    // The same from code, outside any transaction: the COPY alone is cancelled.
    const auditing = t.app.get(AuditingService);
    await expect(auditing.createActionLogEntries(items)).rejects.toMatchObject({
      response: { message: [expect.stringMatching(new RegExp(`^entries\\[${late}\\]`))] },
    });
    expect(await imported()).toEqual([]);
    // Every pooled connection still works (none is left inside a COPY or an aborted one).
    const valid = items.map((item, i) => (i === late ? entry() : item));
    await Promise.all(
      Array.from({ length: 8 }, () => t.http.get('/api/v1/action-logs').expect(200)),
    );
    await expect(auditing.createActionLogEntries(valid)).resolves.toEqual({
      stored: valid.length,
      alreadyPresent: 0,
    });
  });

  it('stores any text exactly, whatever CSV or COPY would read into it', async () => {
    const auditing = t.app.get(AuditingService);
    const special = fc.constantFrom(
      '"',
      ',',
      '\n',
      '\r',
      '\r\n',
      '\\',
      '\\.',
      '\t',
      '\\N',
      "'",
      '{',
      '}',
      '€',
      '😀',
      '\ud800',
      '\udfff',
      'now',
      ' ',
    );
    const text = fc
      .string({
        unit: fc.oneof(special, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
        maxLength: 30,
      })
      .map((s) => s.replaceAll('\u0000', ''));
    // What a text column keeps: a lone surrogate is not text, it becomes U+FFFD.
    const stored = (s: string) => s.replace(/\p{Cs}/gu, '\uFFFD');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ actor: text, id: text, note: text, agent: text }), {
          minLength: 1,
          maxLength: 20,
        }),
        async (values) => {
          const items = values.map((v) =>
            entry({
              actorId: `a${v.actor}`,
              entityId: `e${v.id}`,
              // jsonb refuses a lone surrogate outright (the API's input check replaces it).
              details: { note: stored(v.note), [`k${stored(v.note)}`]: [v.note.length] },
              // A user agent is printable text (control characters are refused).
              userAgent: `u${v.agent.replace(/\p{Cc}/gu, '')}`,
            }),
          );
          await expect(auditing.createActionLogEntries(items)).resolves.toMatchObject({
            stored: items.length,
          });
          const { rows } = await t.db.query(
            `SELECT event_id, actor_id, entity_id, details, user_agent FROM action_log
             WHERE event_id = ANY($1::uuid[])`,
            [items.map((i) => i.eventId)],
          );
          const byEvent = new Map(rows.map((r) => [r.event_id as string, r]));
          for (const item of items) {
            expect(byEvent.get(item.eventId)).toEqual({
              event_id: item.eventId,
              actor_id: stored(item.actorId),
              entity_id: stored(String(item.entityId)),
              details: item.details,
              user_agent: stored(item.userAgent!),
            });
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gives an entry without a timestamp the time it was stored, and refuses NUL in its text', async () => {
    const before = await t.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    await t.http
      .post(BULK)
      .send({ entries: [entry(), entry()] })
      .expect(200);
    const after = await t.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    const rows = await imported();
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.timestamp.getTime()).toBeGreaterThanOrEqual(before.rows[0].now.getTime());
      expect(row.timestamp.getTime()).toBeLessThanOrEqual(after.rows[0].now.getTime());
    }
    await expect(
      t.app.get(AuditingService).createActionLogEntries([entry(), entry({ entityId: 'a\u0000b' })]),
    ).rejects.toMatchObject({
      response: {
        message: ['entries[1].entityId: entityId must not contain NUL (\\u0000) characters'],
      },
    });
  });

  it('answers 503 and stores nothing when the database drops the connection in the middle of a batch', async () => {
    const items = Array.from({ length: 10_000 }, (_, i) => entry({ entityId: String(i) }));
    let settled = false;
    const response = t.http
      .post(BULK)
      .send({ entries: items })
      .then((r) => ((settled = true), r));
    // Kill the connection while its COPY runs (polling the server, no sleeping).
    let killed = 0;
    while (killed === 0 && !settled) {
      const { rows } = await t.db.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY action_log%'`,
      );
      killed = rows[0].n;
    }
    expect(killed).toBe(1);
    expect((await response).status).toBe(503);
    expect(await imported()).toEqual([]);
    await t.http
      .post(BULK)
      .send({ entries: [entry()] })
      .expect(200);
  });

  it('refuses an event id twice in one batch, an empty batch and more than 10,000 entries', async () => {
    const twice = entry();
    const dup = await t.http
      .post(BULK)
      .send({ entries: [twice, entry(), twice] })
      .expect(400);
    expect(dup.body.message).toEqual(['entries[2].eventId: eventId repeats entries[0].eventId']);
    await t.http.post(BULK).send({ entries: [] }).expect(400);
    await t.http.post(BULK).send({}).expect(400);
    const tooMany = Array.from({ length: 10_001 }, () => ({}));
    await t.http.post(BULK).send({ entries: tooMany }).expect(400);
    expect(await imported()).toEqual([]);
  });

  it('takes 10,000 entries in a body far above the global 1 MiB limit, which still holds elsewhere', async () => {
    const items = Array.from({ length: 10_000 }, (_, i) =>
      entry({ entityId: String(i), details: { note: 'x'.repeat(200), i } }),
    );
    const body = JSON.stringify({ entries: items });
    expect(Buffer.byteLength(body)).toBeGreaterThan(2 * 1024 * 1024);
    const res = await t.http
      .post(BULK)
      .set('Content-Type', 'application/json')
      .send(body)
      .expect(200);
    expect(res.body).toEqual({ stored: 10_000, alreadyPresent: 0 });
    const { rows } = await t.db.query(
      `SELECT count(*)::int AS n FROM action_log WHERE actor_id = 'importer'`,
    );
    expect(rows[0].n).toBe(10_000);
    await t.http
      .post('/api/v1/mcp-definitions')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ name: 'big', description: 'x'.repeat(2 * 1024 * 1024) }))
      .expect(413);
  });

  it('is admin only', async () => {
    await t.http
      .post(BULK)
      .set('X-User-Roles', 'auditor,editor')
      .send({ entries: [entry()] })
      .expect(403);
    expect(await imported()).toEqual([]);
  });

  describe('AuditingService.createActionLogEntries (for code)', () => {
    it('validates, stores and dedupes the same way', async () => {
      const auditing = t.app.get(AuditingService);
      const items = [entry(), entry({ details: { token: 'secret' } })];
      await expect(auditing.createActionLogEntries(items)).resolves.toEqual({
        stored: 2,
        alreadyPresent: 0,
      });
      await expect(auditing.createActionLogEntries(items)).resolves.toEqual({
        stored: 0,
        alreadyPresent: 2,
      });
      await expect(
        auditing.createActionLogEntries([entry({ entityId: '' })]),
      ).rejects.toMatchObject({
        response: { message: [expect.stringMatching(/^entries\[0\]\.entityId: /)] },
      });
      const rows = await imported();
      expect(rows.map((r) => r.details)).toEqual([{ status: 'OK' }, { token: '[REDACTED]' }]);
      expect(rows.every((r) => r.request_id === null)).toBe(true);
    });
  });
});
