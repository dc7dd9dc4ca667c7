import { createTestApp, type TestApp } from './helpers/test-app';
import {
  isAlive,
  pidDir,
  startHttpFixture,
  STDIO_FIXTURE,
  type HttpFixture,
} from './fixtures/mcp/servers';

describe('MCP tool discovery (e2e, real MCP servers)', () => {
  let t: TestApp;
  let http: HttpFixture;
  const pids = pidDir();

  beforeAll(async () => {
    t = await createTestApp();
    http = await startHttpFixture();
  });
  afterAll(async () => {
    await t.close();
    await http.close();
    pids.remove();
  });

  const define = async (body: Record<string, unknown>) =>
    (await t.http.post('/api/v1/mcp-definitions').set('X-User-ID', 'alice').send(body).expect(201))
      .body as { id: string };
  const discover = (id: string) =>
    t.http
      .post(`/api/v1/mcp-definitions/${id}/discover`)
      .set('X-User-ID', 'alice')
      .set('X-Correlation-ID', 'discovery-corr-1');

  it('lists the tools of a spawned stdio server and publishes them as a version', async () => {
    const { id } = await define({
      name: 'fixture-stdio',
      transport: 'stdio',
      command: 'node',
      args: [STDIO_FIXTURE],
      env: { MCP_FIXTURE_PID_DIR: pids.dir },
    });
    const res = await discover(id).expect(201);
    expect(res.body.version).toMatch(/^1\.2\.3\+discovered\.\d{17}$/);
    expect(res.body.manifest.serverInfo).toEqual({ name: 'fixture', version: '1.2.3' });
    const tools = res.body.manifest.tools as { name: string; inputSchema: unknown }[];
    expect(tools.map((tool) => tool.name)).toEqual([
      'echo',
      'read',
      'fail',
      'slow',
      'env',
      'environment',
      'pid',
    ]);
    expect(tools[0]).toMatchObject({
      description: 'Returns its text',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
    });
    // Published like any version, and audited like one.
    await t.http
      .get(`/api/v1/mcp-definitions/${id}/versions/${encodeURIComponent(res.body.version)}`)
      .set('X-User-ID', 'alice')
      .expect(200);
    const [entry] = await t.entries(`action_type = 'CREATE' AND entity_type = 'MCP_VERSION'`);
    expect(entry).toMatchObject({
      actor_id: 'alice',
      entity_id: res.body.id,
      outcome: 'SUCCESS',
      correlation_id: 'discovery-corr-1',
      details: { mcpDefinitionId: id, version: res.body.version, discovered: true },
    });
    // The spawned server is gone.
    expect(pids.pids().length).toBeGreaterThan(0);
    expect(pids.pids().filter(isAlive)).toEqual([]);
  });

  it('lists the tools of a Streamable HTTP server, sending the headers and the correlation id', async () => {
    const { id } = await define({
      name: 'fixture-http',
      transport: 'streamable-http',
      url: http.url,
      headers: { Authorization: 'Bearer discovery-header-value' },
    });
    http.seen.length = 0;
    const res = await discover(id).expect(201);
    expect(res.body.manifest.serverInfo).toEqual({ name: 'http-fixture', version: '2.0.0' });
    expect((res.body.manifest.tools as { name: string }[]).map((x) => x.name)).toEqual([
      'echo',
      'whoami',
    ]);
    const posts = http.seen.filter((s) => s.method === 'POST');
    expect(posts.length).toBeGreaterThanOrEqual(2);
    for (const seen of posts) {
      expect(seen.authorization).toBe('Bearer discovery-header-value');
      expect(seen.correlationId).toBe('discovery-corr-1');
      expect(seen.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    }
  });

  it('answers 502 with the reason when the server cannot be reached: no version, a FAILURE entry', async () => {
    const closed = await startHttpFixture();
    await closed.close();
    const { id } = await define({ name: 'gone', transport: 'streamable-http', url: closed.url });
    const res = await discover(id).expect(502);
    expect(res.body.message).toMatch(/^Could not connect to MCP server "gone": /);
    const versions = await t.db.query('SELECT 1 FROM mcp_versions WHERE mcp_definition_id = $1', [
      id,
    ]);
    expect(versions.rowCount).toBe(0);
    const failures = await t.entries(
      `outcome = 'FAILURE' AND entity_type = 'MCP_VERSION' AND path LIKE $1`,
      [`%${id}/discover`],
    );
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ status_code: 502, action_type: 'CREATE' });
  });

  it('answers 502 for a stdio server that exits at start, with its last words', async () => {
    const { id } = await define({
      name: 'quitter',
      transport: 'stdio',
      command: 'node',
      args: [STDIO_FIXTURE, 'exit-at-start'],
      env: { MCP_FIXTURE_PID_DIR: pids.dir },
    });
    const res = await discover(id).expect(502);
    expect(res.body.message).toContain('refusing to start (exit-at-start mode)');
    expect(pids.pids().filter(isAlive)).toEqual([]);
  });

  it('refuses to spawn a command that is not allow-listed (400), though the definition may name it', async () => {
    const { id } = await define({
      name: 'shell',
      transport: 'stdio',
      command: 'sh',
      args: ['-c', 'echo hi'],
    });
    const res = await discover(id).expect(400);
    expect(res.body.message).toBe(
      'command "sh" is not allowed to be spawned (MCP_STDIO_COMMANDS: node, npx)',
    );
  });

  it('refuses npx without a package (it would start a shell reading our messages)', async () => {
    const { id } = await define({
      name: 'bare-npx',
      transport: 'stdio',
      command: 'npx',
      args: ['-y'],
    });
    const res = await discover(id).expect(400);
    expect(res.body.message).toBe(
      'npx without a package to run starts a shell: name the package in args',
    );
    const { id: call } = await define({
      name: 'npx-call',
      transport: 'stdio',
      command: 'npx',
      args: ['-c', 'some-server'],
    });
    expect((await discover(call).expect(400)).body.message).toMatch(/^npx -c\/--call runs a shell/);
  });

  it('is 404 for an unknown definition', async () => {
    await discover('0b0f3a52-6d0e-4a4e-9a55-5c2f3c1d7e01').expect(404);
  });
});
