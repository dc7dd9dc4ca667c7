import { createWidgetsTable, widgetsModuleMetadata } from '../../../test/fixtures/widgets';
import { createTestApp, type TestApp } from '../../../test/helpers/test-app';
import { ActionLogQueryService } from './query/action-log-query.service';
import type { ActionLogInput } from './audit.types';
import { AuditingService } from './auditing.service';
import { AuditValidationError } from './write/audit-entry.validator';
import { REDACTED } from './capture/redaction';

/** The seed's suite (tests/core/test_auditing_service.py), on the real PostgreSQL. */
describe(AuditingService.name, () => {
  let t: TestApp;
  let sut: AuditingService;
  let query: ActionLogQueryService;

  const valid: ActionLogInput = {
    actorId: 'user123',
    actionType: 'CREATE',
    entityType: 'MCP_DEFINITION',
    entityId: 1,
    details: { name: 'New MCP', description: 'Test MCP' },
  };

  beforeAll(async () => {
    t = await createTestApp({ metadata: widgetsModuleMetadata });
    await createWidgetsTable(t.db);
    sut = t.app.get(AuditingService);
    query = t.app.get(ActionLogQueryService);
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox'));
  afterAll(() => t.close());

  it('create action log entry', async () => {
    const entry = await sut.createActionLogEntry(valid);
    expect(entry).toEqual({
      id: expect.stringMatching(/^\d+$/),
      eventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      actorId: 'user123',
      actionType: 'CREATE',
      entityType: 'MCP_DEFINITION',
      entityId: '1',
      details: { name: 'New MCP', description: 'Test MCP' },
      // Outside a request, the request metadata is null.
      requestId: null,
      correlationId: null,
      ip: null,
      userAgent: null,
      method: null,
      path: null,
      // Not chained yet: the sealer gives it a position after the transaction commits.
      seq: null,
      hash: null,
      hashVersion: null,
      // A system action: it succeeded, no HTTP status, no roles.
      outcome: 'SUCCESS',
      statusCode: null,
      actorRoles: [],
    });
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM action_log`);
    expect(rows[0].n).toBe(1);
  });

  it('create action log entry without details', async () => {
    const entry = await sut.createActionLogEntry({ ...valid, details: undefined });
    expect(entry?.details).toBeNull();
    const again = await sut.createActionLogEntry({ ...valid, details: null });
    expect(again?.details).toBeNull();
  });

  it('create action log entry with complex details', async () => {
    const details = {
      nested: { deeper: { deepest: [1, 2, { three: 3 }] } },
      list: ['a', 'b', null, true, false, 0, -1.5, 1e21],
      unicode: 'héllo wörld — 你好 — مرحبا — 🚀👩🏽‍💻',
      'key with spaces & ünïcode 🔑': 'value',
      empty: {},
      emptyList: [],
      config: { apiKey: 'sk-live-123', nested: [{ password: 'hunter2' }], maxTokens: 4096 },
      env: { OPENAI_API_KEY: 'sk-abc', HOME: '/root' },
    };
    const entry = await sut.createActionLogEntry({ ...valid, details });
    expect(entry?.details).toEqual({
      ...details,
      config: { apiKey: REDACTED, nested: [{ password: REDACTED }], maxTokens: 4096 },
      env: { OPENAI_API_KEY: REDACTED, HOME: REDACTED },
    });
    const { rows } = await t.db.query(`SELECT details::text AS raw FROM action_log`);
    expect(rows[0].raw).not.toMatch(/sk-live-123|hunter2|sk-abc/);
  });

  it('entry retrieval and ordering', async () => {
    const a = await sut.createActionLogEntry({ ...valid, entityId: 'a' });
    const b = await sut.createActionLogEntry({ ...valid, entityId: 'b', actionType: 'UPDATE' });
    const c = await sut.createActionLogEntry({ ...valid, entityId: 'c', actionType: 'DELETE' });
    const page = await query.list({ limit: 50 });
    expect(page.items.map((e) => e.entityId)).toEqual(['c', 'b', 'a']);
    expect(page.items[0].timestamp >= page.items[1].timestamp).toBe(true);
    expect(page.nextCursor).toBeNull();
    await expect(query.findOne(b!.id)).resolves.toEqual(b);
    const two = await query.list({ limit: 2 });
    expect(two.items.map((e) => e.id)).toEqual([c!.id, b!.id]);
    const rest = await query.list({ limit: 2, cursor: two.nextCursor! });
    expect(rest.items.map((e) => e.id)).toEqual([a!.id]);
  });

  describe('entry validation', () => {
    const cases: [string, Partial<Record<keyof ActionLogInput, unknown>>, RegExp][] = [
      [
        'an invalid action type',
        { actionType: 'EXPLODE' },
        /actionType must be one of CREATE, READ, UPDATE, DELETE/,
      ],
      ['a lower-case action type', { actionType: 'create' }, /actionType/],
      ['an unknown entity type', { entityType: 'SPACESHIP' }, /entityType "SPACESHIP" is unknown/],
      ['a missing entity type', { entityType: undefined }, /entityType/],
      ['an empty entity id', { entityId: '' }, /entityId is required/],
      ['a blank entity id', { entityId: '   ' }, /entityId is required/],
      ['a missing entity id', { entityId: undefined }, /entityId is required/],
      ['a NaN entity id', { entityId: Number.NaN }, /entityId is required/],
      ['an oversized entity id', { entityId: 'x'.repeat(257) }, /entityId must be at most 256/],
      ['a missing actor', { actorId: undefined }, /actorId is required/],
      ['an empty actor', { actorId: '' }, /actorId is required/],
      ['an oversized actor', { actorId: 'a'.repeat(129) }, /actorId must be at most 128/],
      ['details that are an array', { details: [1, 2] }, /details must be a JSON object/],
      ['details that are a string', { details: 'text' }, /details must be a JSON object/],
      [
        'details over the size cap',
        { details: { blob: 'x'.repeat(1100 * 1024) } },
        /details must be at most/,
      ],
      ['details holding a NUL character', { details: { s: 'a\u0000b' } }, /NUL/],
    ];
    it.each(cases)(
      'rejects %s with an error naming the field, and stores nothing',
      async (_, patch, message) => {
        const input = { ...valid, ...patch } as ActionLogInput;
        await expect(sut.createActionLogEntry(input)).rejects.toThrow(AuditValidationError);
        await expect(sut.createActionLogEntry(input)).rejects.toThrow(message);
        const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM action_log`);
        expect(rows[0].n).toBe(0);
      },
    );

    it('accepts every built-in entity type and every type declared with @Audited', async () => {
      for (const entityType of [
        'MCP_DEFINITION',
        'MCP_VERSION',
        'WORKFLOW_DEFINITION',
        'WORKFLOW_RUN',
        'ACTION_LOG',
        'TEST_WIDGET',
      ]) {
        await expect(sut.createActionLogEntry({ ...valid, entityType })).resolves.toMatchObject({
          entityType,
        });
      }
    });
  });
});
