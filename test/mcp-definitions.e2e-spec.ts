import { outsideContract } from './helpers/contract';
import { createTestApp, type TestApp } from './helpers/test-app';

const stdio = {
  name: 'filesystem',
  description: 'Local files',
  transport: 'stdio',
  command: 'npx',
  args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'],
  env: { LOG_LEVEL: 'debug' },
  tags: ['files', 'local'],
};

const SECRET = 'sk-live-SECRET-123';
const NESTED_SECRET = 'ak-NESTED-456';

describe('MCP definitions (e2e)', () => {
  let t: TestApp;
  const logLines: string[] = [];

  beforeAll(async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: 'debug' },
      logStream: { write: (line: string) => void logLines.push(line) },
    });
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox', 'mcp_versions', 'mcp_definitions'));
  afterAll(() => t.close());

  /** Every entry, those written in the background (rejected attempts, reads) included. */
  const entries = (where?: string, params?: unknown[]) => t.entries(where, params);

  function create(body: object = stdio, user = 'alice') {
    return t.http.post('/api/v1/mcp-definitions').set('X-User-ID', user).send(body);
  }

  it('create → read → update → delete yields exactly CREATE, UPDATE, DELETE entries, in order, by the caller', async () => {
    const created = await create().expect(201);
    const id: string = created.body.id;
    // env values are write-only: the names come back, the values never do.
    expect(created.body).toMatchObject({
      ...stdio,
      env: { LOG_LEVEL: '[REDACTED]' },
      headers: {},
      id,
      url: null,
    });

    await t.http.get(`/api/v1/mcp-definitions/${id}`).set('X-User-ID', 'alice').expect(200);
    const updated = await t.http
      .patch(`/api/v1/mcp-definitions/${id}`)
      .set('X-User-ID', 'alice')
      .send({ description: 'Files, read-only', tags: ['files'], args: stdio.args })
      .expect(200);
    expect(updated.body).toMatchObject({ description: 'Files, read-only', tags: ['files'] });
    await t.http.delete(`/api/v1/mcp-definitions/${id}`).set('X-User-ID', 'alice').expect(204);
    await t.http.get(`/api/v1/mcp-definitions/${id}`).expect(404);

    const rows = await entries();
    expect(rows.map((r) => [r.action_type, r.entity_type, r.entity_id, r.actor_id])).toEqual([
      ['CREATE', 'MCP_DEFINITION', id, 'alice'],
      ['UPDATE', 'MCP_DEFINITION', id, 'alice'],
      ['DELETE', 'MCP_DEFINITION', id, 'alice'],
    ]);
    expect(rows[0].details).toMatchObject({
      id,
      name: 'filesystem',
      transport: 'stdio',
      command: 'npx',
    });
    // Exactly the fields that changed (args was sent unchanged; updatedAt is bookkeeping).
    expect(rows[1].details).toEqual({
      changes: {
        description: { from: 'Local files', to: 'Files, read-only' },
        tags: { from: ['files', 'local'], to: ['files'] },
      },
    });
    expect(rows[2].details).toMatchObject({
      id,
      name: 'filesystem',
      description: 'Files, read-only',
    });

    const history = await t.http
      .get(`/api/v1/action-logs/entities/MCP_DEFINITION/${id}`)
      .expect(200);
    expect(history.body.items.map((e: { actionType: string }) => e.actionType)).toEqual([
      'DELETE',
      'UPDATE',
      'CREATE',
    ]);
  });

  it('answers a PATCH that changes nothing with 200, and says so in the entry', async () => {
    const { body } = await create().expect(201);
    await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ description: stdio.description })
      .expect(200);
    await t.http.patch(`/api/v1/mcp-definitions/${body.id}`).send({}).expect(200);
    const rows = await entries(`action_type = 'UPDATE'`);
    expect(rows.map((r) => r.details)).toEqual([{ changes: {} }, { changes: {} }]);
  });

  it('validates each rule with 400, changes nothing, and records each attempt as a FAILURE', async () => {
    const bad: [string, object][] = [
      ['missing name', { ...stdio, name: undefined }],
      ['upper-case name', { ...stdio, name: 'FileSystem' }],
      ['name over 100 chars', { ...stdio, name: 'a'.repeat(101) }],
      ['name ending in a dash', { ...stdio, name: 'files-' }],
      ['unknown transport', { ...stdio, transport: 'carrier-pigeon' }],
      ['stdio without command', { ...stdio, command: undefined }],
      ['stdio with url', { ...stdio, url: 'https://example.com/mcp' }],
      ['sse without url', { name: 'remote', transport: 'sse' }],
      [
        'http transport with command',
        { name: 'remote', transport: 'streamable-http', url: 'https://x.test/mcp', command: 'npx' },
      ],
      [
        'http transport with args',
        { name: 'remote', transport: 'sse', url: 'https://x.test/mcp', args: ['-v'] },
      ],
      ['non-http url', { name: 'remote', transport: 'sse', url: 'ftp://x.test/mcp' }],
      ['env value not a string', { ...stdio, env: { PORT: 8080 } }],
      ['env key not a variable name', { ...stdio, env: { 'bad-key': 'x' } }],
      ['env as an array', { ...stdio, env: ['A=1'] }],
      ['bad tag', { ...stdio, tags: ['Has Spaces'] }],
      ['too many tags', { ...stdio, tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }],
      ['description too long', { ...stdio, description: 'x'.repeat(2001) }],
      ['unknown field', { ...stdio, owner: 'me' }],
    ];
    for (const [rule, body] of bad) {
      const res = await create(body);
      expect({ rule, status: res.status }).toEqual({ rule, status: 400 });
      expect(res.body).toMatchObject({
        statusCode: 400,
        error: 'Bad Request',
        requestId: expect.any(String),
      });
    }
    const { body } = await create().expect(201);
    const badPatches: [string, object][] = [
      ['switch to sse without url', { transport: 'sse' }],
      ['empty command', { command: '' }],
      ['unknown field', { colour: 'blue' }],
      ['bad env', { env: { A: 1 } }],
      ['null name', { name: null }],
      ['null env', { env: null }],
      ['null transport', { transport: null }],
    ];
    for (const [rule, patch] of badPatches) {
      const res = await t.http.patch(`/api/v1/mcp-definitions/${body.id}`).send(patch);
      expect({ rule, status: res.status }).toEqual({ rule, status: 400 });
    }
    const rows = await entries();
    expect(rows.filter((r) => r.outcome === 'SUCCESS').map((r) => r.action_type)).toEqual([
      'CREATE',
    ]);
    // A failed CREATE names no entity ('-'); a failed PATCH names the one it aimed at.
    expect(
      rows
        .filter((r) => r.outcome !== 'SUCCESS')
        .map((r) => [r.outcome, r.action_type, r.entity_id, r.status_code]),
    ).toEqual([
      ...bad.map(() => ['FAILURE', 'CREATE', '-', 400]),
      ...badPatches.map(() => ['FAILURE', 'UPDATE', body.id, 400]),
    ]);
    const unchanged = await t.http.get(`/api/v1/mcp-definitions/${body.id}`).expect(200);
    expect(unchanged.body).toMatchObject({ transport: 'stdio', command: 'npx' });
  });

  it('audits text with lone UTF-16 surrogates instead of failing the request', async () => {
    const res = await create({ ...stdio, description: 'broken \ud800 half' }).expect(201);
    const [entry] = await entries();
    expect(entry.entity_id).toBe(res.body.id);
    expect(entry.details.description).toBe('broken \ufffd half');
  });

  it('refuses an upper-case id (400, as the document says), so one entity keeps one id in the trail', async () => {
    const { body } = await create().expect(201);
    const upper = await t.http
      .get(`/api/v1/mcp-definitions/${String(body.id).toUpperCase()}`)
      .expect(400);
    expect(upper.body.message).toBe('id must be a lower-case UUID');
    await t.http
      .patch(`/api/v1/mcp-definitions/${String(body.id).toUpperCase()}`)
      .send({ description: 'x' })
      .expect(400);
    // The refused PATCH is on record with the id as it was asked for: it changed nothing.
    expect((await entries()).map((r) => [r.outcome, r.action_type, r.entity_id])).toEqual([
      ['SUCCESS', 'CREATE', body.id],
      ['FAILURE', 'UPDATE', String(body.id).toUpperCase()],
    ]);
  });

  it('switches transport when the new fields come with it', async () => {
    const { body } = await create().expect(201);
    const res = await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ transport: 'streamable-http', url: 'https://mcp.example.com/files' })
      .expect(200);
    expect(res.body).toMatchObject({
      transport: 'streamable-http',
      url: 'https://mcp.example.com/files',
      command: null,
      args: [],
    });
    const [entry] = await entries(`action_type = 'UPDATE'`);
    expect(Object.keys(entry.details.changes).sort()).toEqual([
      'args',
      'command',
      'transport',
      'url',
    ]);
  });

  it('writes no change entry on 404 and 409; each attempt on an audited route is one FAILURE', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await t.http.get(`/api/v1/mcp-definitions/${missing}`).expect(404);
    await t.http.get('/api/v1/mcp-definitions/not-a-uuid').expect(400);
    await t.http.patch(`/api/v1/mcp-definitions/${missing}`).send({ description: 'x' }).expect(404);
    await t.http.delete(`/api/v1/mcp-definitions/${missing}`).expect(404);
    await t.http
      .post(`/api/v1/mcp-definitions/${missing}/versions`)
      .send({ version: '1.0.0', manifest: {} })
      .expect(404);

    const a = await create().expect(201);
    const dup = await create().expect(409);
    expect(dup.body.message).toMatch(/"filesystem" already exists/);
    const b = await create({ ...stdio, name: 'other' }).expect(201);
    await t.http
      .patch(`/api/v1/mcp-definitions/${b.body.id}`)
      .send({ name: 'filesystem' })
      .expect(409);
    await t.http
      .post(`/api/v1/mcp-definitions/${a.body.id}/versions`)
      .send({ version: '1.0.0', manifest: {} })
      .expect(201);
    await t.http
      .post(`/api/v1/mcp-definitions/${a.body.id}/versions`)
      .send({ version: '1.0.0', manifest: {} })
      .expect(409);

    const rows = await entries();
    expect(
      rows.filter((r) => r.outcome === 'SUCCESS').map((r) => `${r.action_type} ${r.entity_type}`),
    ).toEqual(['CREATE MCP_DEFINITION', 'CREATE MCP_DEFINITION', 'CREATE MCP_VERSION']);
    // The GETs are not audited routes: no entry for their 404s.
    expect(
      rows
        .filter((r) => r.outcome !== 'SUCCESS')
        .map((r) => [r.outcome, `${r.action_type} ${r.entity_type}`, r.entity_id, r.status_code]),
    ).toEqual([
      ['FAILURE', 'UPDATE MCP_DEFINITION', missing, 404],
      ['FAILURE', 'DELETE MCP_DEFINITION', missing, 404],
      ['FAILURE', 'CREATE MCP_VERSION', '-', 404],
      ['FAILURE', 'CREATE MCP_DEFINITION', '-', 409],
      ['FAILURE', 'UPDATE MCP_DEFINITION', b.body.id, 409],
      ['FAILURE', 'CREATE MCP_VERSION', '-', 409],
    ]);
    expect(rows.find((r) => r.status_code === 409)?.details).toMatchObject({
      statusCode: 409,
      error: 'Conflict',
    });
  });

  it('publishes, lists and fetches versions; deleting a definition deletes and audits each version', async () => {
    const { body: def } = await create().expect(201);
    const published: string[] = [];
    for (const version of ['1.0.0', '1.1.0', '2.0.0-beta.1']) {
      const res = await t.http
        .post(`/api/v1/mcp-definitions/${def.id}/versions`)
        .set('X-User-ID', 'bob')
        .send({
          version,
          manifest: { tools: [{ name: 'read_file' }] },
          changelog: `release ${version}`,
        })
        .expect(201);
      expect(res.body).toMatchObject({
        mcpDefinitionId: def.id,
        version,
        changelog: `release ${version}`,
      });
      published.push(res.body.id);
    }
    for (const bad of [
      { version: '1.0', manifest: {} },
      { version: '1.0.1', manifest: [] },
      { version: '1.0.1' },
    ]) {
      await t.http.post(`/api/v1/mcp-definitions/${def.id}/versions`).send(bad).expect(400);
    }
    const page1 = await t.http
      .get(`/api/v1/mcp-definitions/${def.id}/versions`)
      .query({ limit: 2 })
      .expect(200);
    const page2 = await t.http
      .get(`/api/v1/mcp-definitions/${def.id}/versions`)
      .query({ limit: 2, cursor: page1.body.nextCursor })
      .expect(200);
    expect(
      [...page1.body.items, ...page2.body.items].map((v: { version: string }) => v.version),
    ).toEqual(['2.0.0-beta.1', '1.1.0', '1.0.0']);
    expect(page2.body.nextCursor).toBeNull();
    await t.http.get(`/api/v1/mcp-definitions/${def.id}/versions/1.1.0`).expect(200);
    await t.http.get(`/api/v1/mcp-definitions/${def.id}/versions/9.9.9`).expect(404);

    const versionEntries = await entries(
      `action_type = 'CREATE' AND entity_type = 'MCP_VERSION' AND outcome = 'SUCCESS'`,
    );
    expect(
      (await entries(`outcome = 'FAILURE'`)).map((r) => [r.entity_type, r.status_code]),
    ).toEqual([
      ['MCP_VERSION', 400],
      ['MCP_VERSION', 400],
      ['MCP_VERSION', 400],
    ]);
    expect(versionEntries.map((r) => [r.entity_id, r.actor_id, r.details])).toEqual(
      published.map((id, i) => [
        id,
        'bob',
        { mcpDefinitionId: def.id, version: ['1.0.0', '1.1.0', '2.0.0-beta.1'][i] },
      ]),
    );

    await t.http.delete(`/api/v1/mcp-definitions/${def.id}`).set('X-User-ID', 'carol').expect(204);
    const { rows: left } = await t.db.query(`SELECT count(*)::int AS n FROM mcp_versions`);
    expect(left[0].n).toBe(0);
    const deletes = await entries(`action_type = 'DELETE'`);
    expect(deletes.map((r) => [r.entity_type, r.entity_id, r.actor_id])).toEqual([
      ['MCP_DEFINITION', def.id, 'carol'],
      ...published.map((id) => ['MCP_VERSION', id, 'carol']),
    ]);
    expect(deletes[1].details).toMatchObject({
      id: published[0],
      mcpDefinitionId: def.id,
      version: '1.0.0',
    });
    // All of one request.
    expect(new Set(deletes.map((r) => r.request_id)).size).toBe(1);
  });

  it('lists by name with prefix, tag and transport filters and keyset pages', async () => {
    for (const [name, tags, transport] of [
      ['alpha', ['a', 'shared'], 'stdio'],
      ['alpine', ['shared'], 'sse'],
      ['beta', ['b'], 'stdio'],
      ['al_pha', ['x'], 'stdio'],
    ] as const) {
      const body =
        transport === 'stdio'
          ? { name, tags, transport, command: 'run' }
          : { name, tags, transport, url: 'http://localhost:9/mcp' };
      await create(body).expect(201);
    }
    const names = async (query: Record<string, string | number>) =>
      (await t.http.get('/api/v1/mcp-definitions').query(query).expect(200)).body.items.map(
        (d: { name: string }) => d.name,
      );
    expect(await names({})).toEqual(['al_pha', 'alpha', 'alpine', 'beta']);
    expect(await names({ name: 'alp' })).toEqual(['alpha', 'alpine']);
    expect(await names({ name: 'al_' })).toEqual(['al_pha']);
    expect(await names({ tag: 'shared' })).toEqual(['alpha', 'alpine']);
    expect(await names({ transport: 'sse' })).toEqual(['alpine']);
    const first = await t.http.get('/api/v1/mcp-definitions').query({ limit: 3 }).expect(200);
    const rest = await t.http
      .get('/api/v1/mcp-definitions')
      .query({ limit: 3, cursor: first.body.nextCursor })
      .expect(200);
    expect(rest.body.items.map((d: { name: string }) => d.name)).toEqual(['beta']);
    await t.http.get('/api/v1/mcp-definitions').query({ limit: 500 }).expect(400);
    await t.http.get('/api/v1/mcp-definitions').query({ transport: 'pigeon' }).expect(400);
  });

  it('never lets a secret reach the action log or the application log', async () => {
    logLines.length = 0;
    const { body } = await create({
      ...stdio,
      env: { OPENAI_API_KEY: SECRET, PLAIN: 'also-hidden-value' },
    }).expect(201);
    expect(body.env).toEqual({ OPENAI_API_KEY: '[REDACTED]', PLAIN: '[REDACTED]' }); // write-only
    await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ env: { OPENAI_API_KEY: `${SECRET}-rotated` } })
      .expect(200);
    await t.http
      .post(`/api/v1/mcp-definitions/${body.id}/versions`)
      .send({ version: '1.0.0', manifest: { auth: { nested: { apiKey: NESTED_SECRET } } } })
      .expect(201);
    // A failure while the secret is in flight: its SQL parameters must not be logged.
    await t.db.query(`CREATE FUNCTION test_fail_mcp() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected'; END $$`);
    await t.db.query(
      `CREATE TRIGGER test_fail_mcp BEFORE UPDATE ON mcp_definitions FOR EACH ROW EXECUTE FUNCTION test_fail_mcp()`,
    );
    try {
      // An injected fault: the 500 is no part of the documented API.
      await outsideContract(
        t.http
          .patch(`/api/v1/mcp-definitions/${body.id}`)
          .set('X-Request-ID', 'req-failing-patch')
          .send({ env: { OPENAI_API_KEY: `${SECRET}-again` } }),
      ).expect(500);
    } finally {
      await t.db.query(
        `DROP TRIGGER test_fail_mcp ON mcp_definitions; DROP FUNCTION test_fail_mcp()`,
      );
    }
    await t.http.delete(`/api/v1/mcp-definitions/${body.id}`).expect(204);

    const { rows } = await t.db.query(
      `SELECT string_agg(details::text, ' ') AS all FROM action_log`,
    );
    expect(rows[0].all).not.toContain('sk-live');
    expect(rows[0].all).not.toContain('also-hidden-value');
    expect(rows[0].all).not.toContain(NESTED_SECRET);
    const update = (await entries(`action_type = 'UPDATE'`))[0];
    // The diff names the variable that changed (PLAIN was kept), never a value.
    expect(update.details).toEqual({
      changes: {
        env: { from: { OPENAI_API_KEY: '[REDACTED]' }, to: { OPENAI_API_KEY: '[REDACTED]' } },
      },
    });
    const created = (await entries(`action_type = 'CREATE' AND entity_type = 'MCP_DEFINITION'`))[0];
    expect(created.details.env).toEqual({ OPENAI_API_KEY: '[REDACTED]', PLAIN: '[REDACTED]' });

    const log = logLines.join('');
    expect(log).toContain('injected'); // the failure was logged, as JSON, with its request id...
    const failure = logLines
      .map((line) => JSON.parse(line) as { msg?: string; requestId?: string; level?: number })
      .find((entry) => entry.msg === 'injected');
    expect(failure).toMatchObject({ level: 50, requestId: 'req-failing-patch' });
    expect(log).not.toContain('sk-live'); // ...without the secret
    expect(log).not.toContain('also-hidden-value');
    expect(log).not.toContain(NESTED_SECRET);
  });

  it('keeps a consistent from/to chain under 50 concurrent PATCHes', async () => {
    const { body } = await create().expect(201);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.http
          .patch(`/api/v1/mcp-definitions/${body.id}`)
          .set('X-User-ID', `u${i}`)
          .send({ description: `rev-${i}` }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const updates = await entries(`action_type = 'UPDATE'`);
    expect(updates).toHaveLength(50);
    let previous = stdio.description;
    for (const u of updates) {
      expect(u.details.changes.description.from).toBe(previous);
      previous = u.details.changes.description.to;
    }
    const final = await t.http.get(`/api/v1/mcp-definitions/${body.id}`).expect(200);
    expect(final.body.description).toBe(previous);
    expect(new Set(updates.map((u) => u.details.changes.description.to)).size).toBe(50);
  });

  it('documents every endpoint, field, enum and error response in OpenAPI', async () => {
    const { body: doc } = await t.http.get('/docs-json').expect(200);
    const paths = doc.paths as Record<
      string,
      Record<string, { responses: Record<string, unknown> }>
    >;
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/mcp-definitions',
        '/api/v1/mcp-definitions/{id}',
        '/api/v1/mcp-definitions/{id}/versions',
        '/api/v1/mcp-definitions/{id}/versions/{version}',
        '/api/v1/action-logs',
        '/api/v1/action-logs/{id}',
        '/api/v1/workflows',
        '/api/v1/workflows/{id}',
        '/api/v1/workflows/{id}/runs',
        '/api/v1/workflow-runs/{id}',
        '/api/v1/workflow-runs/{id}/status',
        '/api/v1/workflow-runs/{id}/cancel',
      ]),
    );
    expect(Object.keys(paths['/api/v1/mcp-definitions'].post.responses).sort()).toEqual([
      '201',
      '400',
      '401',
      '403',
      '409',
      '413',
      '429',
      '503',
    ]);
    expect(Object.keys(paths['/api/v1/mcp-definitions/{id}'].patch.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '409',
      '413',
      '414',
      '429',
      '503',
    ]);
    expect(Object.keys(paths['/api/v1/mcp-definitions/{id}'].delete.responses).sort()).toEqual([
      '204',
      '400',
      '401',
      '403',
      '404',
      '414',
      '429',
      '503',
    ]);
    const create = doc.components.schemas.CreateMcpDefinitionDto;
    expect(Object.keys(create.properties).sort()).toEqual(
      [
        'args',
        'command',
        'description',
        'env',
        'headers',
        'name',
        'tags',
        'transport',
        'url',
      ].sort(),
    );
    expect(create.properties.transport.enum).toEqual(['stdio', 'sse', 'streamable-http']);
    expect(doc.components.schemas.ChangeRunStatusDto.properties.status.enum).toEqual([
      'PENDING',
      'RUNNING',
      'SUCCEEDED',
      'FAILED',
      'CANCELLED',
    ]);
    expect(Object.keys(paths['/api/v1/workflow-runs/{id}/status'].patch.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '409',
      '413',
      '414',
      '429',
      '503',
    ]);
    expect(create.required).toEqual(expect.arrayContaining(['name', 'transport']));
    expect(Object.keys(doc.components.schemas.CreateMcpVersionDto.properties).sort()).toEqual([
      'changelog',
      'manifest',
      'version',
    ]);
  });
});
