import { outsideContract } from './helpers/contract';
import { createTestApp, type TestApp } from './helpers/test-app';

const API = '/api/v1/mcp-definitions';
const GITHUB_TOKEN = 'ghp-SECRET-0a1b2c3d4e5f';
const BRAVE_KEY = 'brave-SECRET-9z8y7x';
const BEARER = 'Bearer remote-SECRET-q1w2e3';
const PLAINTEXTS = [GITHUB_TOKEN, BRAVE_KEY, BEARER, 'remote-SECRET-q1w2e3'];

/**
 * A realistic file: Claude Desktop's stdio servers (no type), a Claude Code/Cursor HTTP
 * server with headers, an SSE server, a Cline entry with its client-only settings and a
 * `disabled` flag.
 */
const desktopFile = {
  mcpServers: {
    filesystem: {
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-filesystem', '/Users/me/Desktop'],
    },
    github: {
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-github'],
      env: { GITHUB_PERSONAL_ACCESS_TOKEN: GITHUB_TOKEN },
    },
    'brave-search': {
      type: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-brave-search'],
      env: { BRAVE_API_KEY: BRAVE_KEY },
      disabled: true,
      autoApprove: ['brave_web_search'],
    },
    remote: {
      type: 'http',
      url: 'https://mcp.example.com/mcp',
      headers: { Authorization: BEARER },
    },
    legacy: { transport: 'sse', url: 'http://127.0.0.1:8931/sse' },
  },
};

/** The file as export writes it back: every type said, secret values redacted. */
const exportedWithoutSecrets = {
  mcpServers: {
    'brave-search': {
      type: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-brave-search'],
      env: { BRAVE_API_KEY: '[REDACTED]' },
      disabled: true,
    },
    filesystem: {
      type: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-filesystem', '/Users/me/Desktop'],
    },
    github: {
      type: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-github'],
      env: { GITHUB_PERSONAL_ACCESS_TOKEN: '[REDACTED]' },
    },
    legacy: { type: 'sse', url: 'http://127.0.0.1:8931/sse' },
    remote: {
      type: 'http',
      url: 'https://mcp.example.com/mcp',
      headers: { Authorization: '[REDACTED]' },
    },
  },
};

const ADMIN = { 'X-User-ID': 'ada', 'X-User-Roles': 'admin' };
const EDITOR = { 'X-User-ID': 'ed', 'X-User-Roles': 'editor,viewer' };

describe('MCP clients interop: mcpServers import/export (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox', 'mcp_versions', 'mcp_definitions'));
  afterAll(() => t.close());

  const names = async (): Promise<string[]> =>
    (await t.db.query(`SELECT name FROM mcp_definitions ORDER BY name`)).rows.map(
      (r: { name: string }) => r.name,
    );

  it('imports a desktop client file and exports it back: the round trip keeps every server and secret', async () => {
    const imported = await t.http.post(`${API}/import`).set(ADMIN).send(desktopFile).expect(201);
    expect(imported.body.items.map((d: { name: string }) => d.name)).toEqual([
      'filesystem',
      'github',
      'brave-search',
      'remote',
      'legacy',
    ]);
    expect(imported.body.ignored).toEqual({ 'brave-search': ['autoApprove'] });
    const byName = Object.fromEntries(
      imported.body.items.map((d: { name: string }) => [d.name, d]),
    );
    expect(byName.remote).toMatchObject({
      transport: 'streamable-http',
      headers: { Authorization: '[REDACTED]' },
    });
    expect(byName.legacy).toMatchObject({ transport: 'sse', url: 'http://127.0.0.1:8931/sse' });
    expect(byName['brave-search']).toMatchObject({ transport: 'stdio', tags: ['disabled'] });
    expect(JSON.stringify(imported.body)).not.toMatch(/SECRET/);

    // Without secrets: names only, with "[REDACTED]" values.
    const plain = await t.http.get(`${API}/export`).set(EDITOR).expect(200);
    expect(plain.headers['cache-control']).toBe('no-store');
    expect(plain.body).toEqual(exportedWithoutSecrets);
    expect(JSON.stringify(plain.body)).not.toMatch(/SECRET/);

    // With secrets (admin): the values, and the file imports again elsewhere as it was.
    const full = await t.http.get(`${API}/export?includeSecrets=true`).set(ADMIN).expect(200);
    expect(full.body.mcpServers.github.env).toEqual({
      GITHUB_PERSONAL_ACCESS_TOKEN: GITHUB_TOKEN,
    });
    expect(full.body.mcpServers.remote.headers).toEqual({ Authorization: BEARER });
    const again = await createTestApp();
    try {
      await again.http.post(`${API}/import`).set(ADMIN).send(full.body).expect(201);
      const reexported = await again.http
        .get(`${API}/export?includeSecrets=true`)
        .set(ADMIN)
        .expect(200);
      expect(reexported.body).toEqual(full.body);
    } finally {
      await again.close();
    }
  });

  it('stores no plain-text secret: the rows hold sealed envelopes, the trail names only', async () => {
    await t.http.post(`${API}/import`).set(ADMIN).send(desktopFile).expect(201);
    const { rows } = await t.db.query(`SELECT env::text, headers::text FROM mcp_definitions`);
    const stored = JSON.stringify(rows);
    const trail = JSON.stringify(await t.entries());
    for (const secret of PLAINTEXTS) {
      expect(stored).not.toContain(secret);
      expect(trail).not.toContain(secret);
    }
    const github = (await t.db.query(`SELECT env FROM mcp_definitions WHERE name = 'github'`))
      .rows[0].env as Record<string, unknown>;
    expect(Object.keys(github)).toEqual(['GITHUB_PERSONAL_ACCESS_TOKEN']);
    expect(typeof github.GITHUB_PERSONAL_ACCESS_TOKEN).toBe('object');
  });

  it('audits one CREATE per definition, all with the request id of the import', async () => {
    const res = await t.http
      .post(`${API}/import`)
      .set({ ...ADMIN, 'X-Request-ID': 'import-req-1' })
      .send(desktopFile)
      .expect(201);
    const entries = await t.entries(`entity_type = 'MCP_DEFINITION'`);
    expect(entries.map((e) => [e.action_type, e.entity_id, e.request_id, e.actor_id])).toEqual(
      res.body.items.map((d: { id: string }) => ['CREATE', d.id, 'import-req-1', 'ada']),
    );
    for (const entry of entries) {
      expect(entry.outcome).toBe('SUCCESS');
      expect(entry.details).toMatchObject({ id: entry.entity_id, name: expect.any(String) });
    }
    const github = entries.find((e) => e.details.name === 'github');
    expect(github.details.env).toEqual({ GITHUB_PERSONAL_ACCESS_TOKEN: '[REDACTED]' });
  });

  it('is all or nothing: one bad item is a 400 naming each problem, and nothing is stored', async () => {
    const file = {
      mcpServers: {
        ...desktopFile.mcpServers,
        'Bad Name': { command: 'npx' },
        nourl: { type: 'http' },
        weird: { type: 'websocket', url: 'ws://127.0.0.1:1' },
        extra: { command: 'node', cwd: '/tmp', shell: true },
        both: { command: 'node', url: 'http://127.0.0.1:1/mcp' },
        pasted: { url: 'http://127.0.0.1:1/mcp', headers: { Authorization: '[REDACTED]' } },
        listed: ['npx'],
      },
    };
    const res = await t.http.post(`${API}/import`).set(ADMIN).send(file).expect(400);
    expect(res.body.message).toEqual([
      expect.stringMatching(/^mcpServers\."Bad Name": name must be/),
      'mcpServers.nourl: url is required when transport is streamable-http',
      expect.stringMatching(/^mcpServers\.weird: type must be one of stdio, sse, http/),
      'mcpServers.extra: cwd is not supported: stdio servers run in a working directory of their own',
      'mcpServers.extra: unknown field shell',
      'mcpServers.both: has both command and url: say which with type',
      'mcpServers.pasted: headers.Authorization is "[REDACTED]" (an export without secrets): give the value',
      'mcpServers.listed: must be an object',
    ]);
    expect(await names()).toEqual([]);
    expect(await t.entries(`outcome = 'SUCCESS'`)).toEqual([]);
  });

  it('rolls every definition back when a write fails midway (one transaction)', async () => {
    // Fail the third insert from inside the database: the first two must not survive it.
    await t.db.query(`CREATE FUNCTION test_fail_third() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.name = 'brave-search' THEN RAISE EXCEPTION 'injected'; END IF; RETURN NEW; END $$`);
    await t.db.query(
      `CREATE TRIGGER test_fail_third BEFORE INSERT ON mcp_definitions FOR EACH ROW EXECUTE FUNCTION test_fail_third()`,
    );
    try {
      // An injected fault: its 500 is no part of the documented API.
      await outsideContract(t.http.post(`${API}/import`).set(ADMIN).send(desktopFile)).expect(500);
    } finally {
      await t.db.query(
        `DROP TRIGGER test_fail_third ON mcp_definitions; DROP FUNCTION test_fail_third()`,
      );
    }
    expect(await names()).toEqual([]);
    expect(await t.entries(`outcome = 'SUCCESS'`)).toEqual([]);
  });

  it('keeps secrets out of the entry the import declares (the first server) too', async () => {
    const file = { mcpServers: { remote: desktopFile.mcpServers.remote } };
    await t.http.post(`${API}/import`).set(ADMIN).send(file).expect(201);
    const [entry] = await t.entries(`entity_type = 'MCP_DEFINITION'`);
    expect(entry.details.headers).toEqual({ Authorization: '[REDACTED]' });
    expect(JSON.stringify(entry)).not.toMatch(/SECRET/);
  });

  it('refuses an empty file, another top-level field, and more than 100 servers', async () => {
    await t.http.post(`${API}/import`).send({ mcpServers: {} }).expect(400);
    await t.http.post(`${API}/import`).send({}).expect(400);
    const other = await t.http
      .post(`${API}/import`)
      .send({ ...desktopFile, globalShortcut: 'Ctrl+Space' })
      .expect(400);
    expect(other.body.message).toEqual(['property globalShortcut should not exist']);
    const many = Object.fromEntries(
      Array.from({ length: 101 }, (_, i) => [`s${i}`, { url: 'http://127.0.0.1:1/mcp' }]),
    );
    await t.http.post(`${API}/import`).send({ mcpServers: many }).expect(400);
    expect(await names()).toEqual([]);
  });

  it('answers 409 when a name is taken, naming it, and imports nothing', async () => {
    await t.http
      .post(API)
      .send({ name: 'remote', transport: 'sse', url: 'http://127.0.0.1:1/sse' })
      .expect(201);
    const res = await t.http.post(`${API}/import`).set(ADMIN).send(desktopFile).expect(409);
    expect(res.body.message).toBe(
      'MCP definitions with these names already exist (nothing was imported): remote',
    );
    expect(await names()).toEqual(['remote']);
  });

  it('lets only an admin export secret values; the export itself is on the trail', async () => {
    await t.http.post(`${API}/import`).set(ADMIN).send(desktopFile).expect(201);
    const denied = await t.http.get(`${API}/export?includeSecrets=true`).set(EDITOR).expect(403);
    expect(JSON.stringify(denied.body)).not.toMatch(/SECRET/);
    await t.http.get(`${API}/export?includeSecrets=yes`).set(ADMIN).expect(400);
    await t.http.get(`${API}/export?includeSecrets=false`).set(ADMIN).expect(200);
    await t.http.get(`${API}/export?includeSecrets=true`).set(ADMIN).expect(200);

    const reads = await t.entries(`action_type = 'READ' AND entity_type = 'MCP_DEFINITION'`);
    expect(reads.map((e) => [e.actor_id, e.outcome, e.entity_id, e.details])).toEqual([
      ['ed', 'DENIED', 'export', { reason: expect.stringMatching(/^role admin required/) }],
      ['ada', 'FAILURE', 'export', expect.objectContaining({ statusCode: 400 })],
      ['ada', 'SUCCESS', 'export', { values: 'redacted', definitions: 5 }],
      ['ada', 'SUCCESS', 'export', { values: 'included', definitions: 5 }],
    ]);
    expect(JSON.stringify(reads)).not.toMatch(/SECRET/);
  });

  describe('stdio definitions are an admin power (they run a command on the host)', () => {
    const stdio = { name: 'local', transport: 'stdio', command: 'npx', args: ['-y', 'x'] };
    const http = { name: 'web', transport: 'sse', url: 'http://127.0.0.1:1/sse' };

    it('refuses an editor creating one, importing one, or changing one', async () => {
      const create = await t.http.post(API).set(EDITOR).send(stdio).expect(403);
      expect(create.body.message).toMatch(/^role admin required .*stdio.*: local$/);
      const imported = await t.http.post(`${API}/import`).set(EDITOR).send(desktopFile).expect(403);
      expect(imported.body.message).toMatch(/filesystem, github, brave-search$/);
      expect(await names()).toEqual([]);

      const local = await t.http.post(API).set(ADMIN).send(stdio).expect(201);
      await t.http
        .patch(`${API}/${local.body.id}`)
        .set(EDITOR)
        .send({ args: ['--evil'] })
        .expect(403);
      await t.http
        .patch(`${API}/${local.body.id}`)
        .set(EDITOR)
        .send({ transport: 'sse', url: 'http://127.0.0.1:1/sse' })
        .expect(403);
      const web = await t.http.post(API).set(EDITOR).send(http).expect(201);
      await t.http
        .patch(`${API}/${web.body.id}`)
        .set(EDITOR)
        .send({ transport: 'stdio', command: 'sh' })
        .expect(403);
      const rows = (
        await t.db.query(`SELECT name, transport, args FROM mcp_definitions ORDER BY name`)
      ).rows;
      expect(rows).toEqual([
        { name: 'local', transport: 'stdio', args: ['-y', 'x'] },
        { name: 'web', transport: 'sse', args: [] },
      ]);
      // The refusals are on the trail as failed attempts by the editor.
      const refused = await t.entries(`actor_id = 'ed' AND status_code = 403`);
      expect(refused.map((e) => e.action_type)).toEqual([
        'CREATE',
        'CREATE',
        'UPDATE',
        'UPDATE',
        'UPDATE',
      ]);
    });

    it('lets an editor import HTTP servers and change HTTP definitions; an admin does all', async () => {
      const remoteOnly = {
        mcpServers: {
          remote: desktopFile.mcpServers.remote,
          legacy: desktopFile.mcpServers.legacy,
        },
      };
      await t.http.post(`${API}/import`).set(EDITOR).send(remoteOnly).expect(201);
      const web = await t.http.post(API).set(EDITOR).send(http).expect(201);
      await t.http
        .patch(`${API}/${web.body.id}`)
        .set(EDITOR)
        .send({ tags: ['a'] })
        .expect(200);
      const local = await t.http.post(API).set(ADMIN).send(stdio).expect(201);
      await t.http.patch(`${API}/${local.body.id}`).set(ADMIN).send({ args: [] }).expect(200);
      await t.http
        .patch(`${API}/${web.body.id}`)
        .set(ADMIN)
        .send({ transport: 'stdio', command: 'node' })
        .expect(200);
      expect(await names()).toEqual(['legacy', 'local', 'remote', 'web']);
    });
  });
});
