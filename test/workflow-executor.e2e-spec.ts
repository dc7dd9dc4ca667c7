import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { Pool } from 'pg';
import { createTestApp, type TestApp } from './helpers/test-app';
import { createTestDatabase } from './setup/test-database';
import {
  isAlive,
  pidDir,
  startHttpFixture,
  STDIO_FIXTURE,
  waitFor,
  type HttpFixture,
} from './fixtures/mcp/servers';

const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
const SECRET = 'sk-live-5f1d0c9e8b7a-fixture-secret';
// Long enough for a spawn on a loaded machine (~0.7 s at load 12), short for the timeout case.
const STEP_TIMEOUT_SECONDS = 5;

interface Step {
  name: string;
  mcpDefinitionId: string;
  tool: string;
  input: Record<string, unknown>;
}

describe('Workflow executor (e2e, real MCP servers)', () => {
  let t: TestApp;
  let http: HttpFixture;
  const pids = pidDir();
  const logs: string[] = [];
  let stdioId: string;
  let httpId: string;
  let counter = 0;

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        WORKFLOW_EXECUTOR: 'on',
        WORKFLOW_STEP_TIMEOUT_SECONDS: String(STEP_TIMEOUT_SECONDS),
        WORKFLOW_POLL_INTERVAL_MS: '200',
        RATE_LIMIT_MAX: '0',
        LOG_LEVEL: 'debug',
      },
      logStream: new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
    http = await startHttpFixture();
    stdioId = await define({
      name: 'fixture-stdio',
      transport: 'stdio',
      command: 'node',
      args: [STDIO_FIXTURE],
      env: { MCP_FIXTURE_PID_DIR: pids.dir, API_TOKEN: SECRET },
    });
    httpId = await define({ name: 'fixture-http', transport: 'streamable-http', url: http.url });
  });
  afterAll(async () => {
    await t.close();
    await http.close();
    pids.remove();
  });

  async function define(body: Record<string, unknown>): Promise<string> {
    const res = await t.http
      .post('/api/v1/mcp-definitions')
      .set('X-User-ID', 'alice')
      .send(body)
      .expect(201);
    return res.body.id as string;
  }

  async function start(steps: Step[], parameters: Record<string, unknown> = {}) {
    const wf = await t.http
      .post('/api/v1/workflows')
      .set('X-User-ID', 'alice')
      .send({ name: `wf-${++counter}`, steps })
      .expect(201);
    const run = await t.http
      .post(`/api/v1/workflows/${wf.body.id}/runs`)
      .set('X-User-ID', 'alice')
      .send({ parameters })
      .expect(201);
    return run.body as { id: string; correlationId: string; status: string };
  }

  const getRun = async (id: string) =>
    (await t.http.get(`/api/v1/workflow-runs/${id}`).set('X-User-ID', 'alice').expect(200)).body;
  const getSteps = async (id: string) =>
    (await t.http.get(`/api/v1/workflow-runs/${id}/steps`).set('X-User-ID', 'alice').expect(200))
      .body.items as Record<string, unknown>[];
  const finished = (id: string) =>
    waitFor(async () => {
      const run = await getRun(id);
      return FINAL.includes(run.status) ? run : undefined;
    }, `run ${id} to finish`);
  const noLeftovers = () =>
    waitFor(() => (pids.pids().some(isAlive) ? undefined : true), 'fixture servers to exit');

  it('runs a two-step workflow: the second step uses the first one’s output; steps recorded and audited in order', async () => {
    const run = await start(
      [
        {
          name: 'read',
          mcpDefinitionId: stdioId,
          tool: 'read',
          input: { path: '{{ parameters.path }}' },
        },
        {
          name: 'shout',
          mcpDefinitionId: stdioId,
          tool: 'echo',
          input: { text: 'got: {{ steps.read.output.content }}' },
        },
      ],
      { path: '/tmp/report.csv' },
    );
    expect(run.status).toBe('PENDING');
    const done = await finished(run.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', error: null });

    const steps = await getSteps(run.id);
    expect(steps).toMatchObject([
      {
        index: 0,
        name: 'read',
        tool: 'read',
        status: 'SUCCEEDED',
        input: { path: '/tmp/report.csv' },
        output: { content: 'content of /tmp/report.csv' },
        error: null,
      },
      {
        index: 1,
        name: 'shout',
        tool: 'echo',
        status: 'SUCCEEDED',
        input: { text: 'got: content of /tmp/report.csv' },
        output: {
          content: 'got: content of /tmp/report.csv',
          structuredContent: { text: 'got: content of /tmp/report.csv' },
        },
      },
    ]);
    expect(steps[0].durationMs).toEqual(expect.any(Number));

    const story = await t.entries('correlation_id = $1', [run.correlationId]);
    expect(
      story.map((e) => [e.actor_id, e.action_type, e.details.status ?? e.details.step]),
    ).toEqual([
      ['alice', 'CREATE', 'PENDING'],
      ['system', 'UPDATE', 'RUNNING'],
      ['system', 'EXECUTE', 'read'],
      ['system', 'EXECUTE', 'shout'],
      ['system', 'UPDATE', 'SUCCEEDED'],
    ]);
    expect(story[2]).toMatchObject({
      entity_type: 'WORKFLOW_RUN',
      entity_id: run.id,
      outcome: 'SUCCESS',
      details: {
        index: 0,
        mcpDefinitionId: stdioId,
        mcpVersion: null,
        tool: 'read',
        input: { path: '/tmp/report.csv' },
        outcome: 'SUCCEEDED',
        outputBytes: expect.any(Number),
        durationMs: expect.any(Number),
      },
    });
    await noLeftovers();
  });

  it('calls Streamable HTTP servers with the run’s correlation id and a W3C traceparent', async () => {
    http.seen.length = 0;
    const run = await start([
      { name: 'who', mcpDefinitionId: httpId, tool: 'whoami', input: {} },
      {
        name: 'again',
        mcpDefinitionId: httpId,
        tool: 'echo',
        input: { text: '{{ steps.who.output.content }}' },
      },
    ]);
    expect(await finished(run.id)).toMatchObject({ status: 'SUCCEEDED' });
    const steps = await getSteps(run.id);
    expect(steps[1].output).toEqual({ content: run.correlationId });
    const posts = http.seen.filter((s) => s.method === 'POST');
    expect(posts.length).toBeGreaterThanOrEqual(4);
    const traceIds = new Set<string>();
    for (const seen of posts) {
      expect(seen.correlationId).toBe(run.correlationId);
      const match = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(seen.traceparent ?? '');
      expect(match).not.toBeNull();
      traceIds.add(match![1]);
    }
    // One trace for the whole run.
    expect(traceIds.size).toBe(1);
  });

  it('fails the run when a tool answers isError, with the tool’s message', async () => {
    const run = await start([
      { name: 'ok', mcpDefinitionId: stdioId, tool: 'echo', input: { text: 'x' } },
      { name: 'boom', mcpDefinitionId: stdioId, tool: 'fail', input: {} },
      { name: 'never', mcpDefinitionId: stdioId, tool: 'echo', input: { text: 'y' } },
    ]);
    const done = await finished(run.id);
    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('Step 1 "boom" (fail) failed: the tool failed on purpose');
    const steps = await getSteps(run.id);
    expect(steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'FAILED']);
    const story = await t.entries('correlation_id = $1', [run.correlationId]);
    expect(story.map((e) => e.details.status ?? e.details.outcome)).toEqual([
      'PENDING',
      'RUNNING',
      'SUCCEEDED',
      'FAILED',
      'FAILED',
    ]);
    await noLeftovers();
  });

  it('fails a step that runs past WORKFLOW_STEP_TIMEOUT_SECONDS and stops its server', async () => {
    const run = await start([{ name: 'wait', mcpDefinitionId: stdioId, tool: 'slow', input: {} }]);
    const done = await finished(run.id);
    expect(done).toMatchObject({
      status: 'FAILED',
      error: `Step 0 "wait" (slow) failed: Timed out after ${STEP_TIMEOUT_SECONDS} s`,
    });
    await noLeftovers();
  });

  it('fails the run when the server exits at start, saying why', async () => {
    const quitter = await define({
      name: 'quitter',
      transport: 'stdio',
      command: 'node',
      args: [STDIO_FIXTURE, 'exit-at-start'],
      env: { MCP_FIXTURE_PID_DIR: pids.dir },
    });
    const run = await start([{ name: 'x', mcpDefinitionId: quitter, tool: 'echo', input: {} }]);
    const done = await finished(run.id);
    expect(done.status).toBe('FAILED');
    expect(done.error).toContain('Could not connect to MCP server "quitter"');
    expect(done.error).toContain('refusing to start (exit-at-start mode)');
    await noLeftovers();
  });

  it('cancelling a running run aborts the call in flight and stops the spawned server', async () => {
    const before = new Set(pids.pids());
    const run = await start([
      { name: 'wait', mcpDefinitionId: stdioId, tool: 'slow', input: {} },
      { name: 'never', mcpDefinitionId: stdioId, tool: 'echo', input: { text: 'y' } },
    ]);
    const pid = await waitFor(() => pids.pids().find((p) => !before.has(p)), 'the server to start');
    await waitFor(async () => {
      const steps = await getSteps(run.id);
      return steps[0]?.status === 'RUNNING' ? true : undefined;
    }, 'the step to run');
    expect(isAlive(pid)).toBe(true);
    await t.http
      .post(`/api/v1/workflow-runs/${run.id}/cancel`)
      .set('X-User-ID', 'alice')
      .expect(200);
    const steps = await waitFor(async () => {
      const s = await getSteps(run.id);
      return s[0]?.status === 'CANCELLED' ? s : undefined;
    }, 'the step to be cancelled');
    expect(steps).toHaveLength(1);
    expect(steps[0].error).toBe('The run was moved to CANCELLED');
    expect((await getRun(run.id)).status).toBe('CANCELLED');
    // Aborted well before the step timeout; the server is gone.
    expect(steps[0].durationMs as number).toBeLessThan(STEP_TIMEOUT_SECONDS * 1000);
    await waitFor(() => (isAlive(pid) ? undefined : true), `pid ${pid} to exit`);
  });

  it('gives the spawned server its decrypted secret and nothing of the service’s environment; the secret appears nowhere else', async () => {
    process.env.MCP_EXECUTOR_TEST_SERVICE_SECRET = 'service-only-value';
    const run = await start([
      { name: 'secret', mcpDefinitionId: stdioId, tool: 'env', input: { name: 'API_TOKEN' } },
      { name: 'names', mcpDefinitionId: stdioId, tool: 'environment', input: {} },
      { name: 'where', mcpDefinitionId: stdioId, tool: 'pid', input: {} },
    ]);
    expect(await finished(run.id)).toMatchObject({ status: 'SUCCEEDED' });
    delete process.env.MCP_EXECUTOR_TEST_SERVICE_SECRET;
    const steps = await getSteps(run.id);
    const secret = JSON.parse((steps[0].output as { content: string }).content);
    expect(secret).toEqual({
      set: true,
      sha256: createHash('sha256').update(SECRET).digest('hex'),
      length: SECRET.length,
    });
    // PATH and the definition's own variables, nothing else (Node may add its own few).
    const names = JSON.parse((steps[1].output as { content: string }).content) as string[];
    expect(names).toEqual(expect.arrayContaining(['API_TOKEN', 'MCP_FIXTURE_PID_DIR', 'PATH']));
    expect(names).not.toContain('MCP_EXECUTOR_TEST_SERVICE_SECRET');
    expect(names).not.toContain('DATABASE_URL');
    expect(names).not.toContain('HOME');
    // A working directory of its own, removed afterwards.
    const { cwd } = JSON.parse((steps[2].output as { content: string }).content);
    expect(cwd).not.toBe(process.cwd());
    expect(existsSync(cwd)).toBe(false);

    // Nowhere else: responses, the trail, the logs.
    const responses = JSON.stringify([
      await getRun(run.id),
      steps,
      (await t.http.get(`/api/v1/mcp-definitions/${stdioId}`).set('X-User-ID', 'alice')).body,
    ]);
    const trail = JSON.stringify(await t.entries());
    const { rows } = await t.db.query(
      `SELECT env::text AS env FROM mcp_definitions WHERE id = $1`,
      [stdioId],
    );
    for (const text of [responses, trail, logs.join(''), rows[0].env]) {
      expect(text).not.toContain(SECRET);
    }
    expect(logs.length).toBeGreaterThan(0);
  });

  it('redacts secret-looking keys of a step’s input in its record and its entry', async () => {
    const run = await start(
      [
        {
          name: 'send',
          mcpDefinitionId: stdioId,
          tool: 'echo',
          input: { text: 'hi', apiKey: '{{ parameters.key }}' },
        },
      ],
      { key: 'param-secret-value-123' },
    );
    expect(await finished(run.id)).toMatchObject({ status: 'SUCCEEDED' });
    const [step] = await getSteps(run.id);
    expect(step.input).toEqual({ text: 'hi', apiKey: '[REDACTED]' });
    const [execute] = await t.entries(`correlation_id = $1 AND action_type = 'EXECUTE'`, [
      run.correlationId,
    ]);
    expect(execute.details.input).toEqual({ text: 'hi', apiKey: '[REDACTED]' });
  });

  it('fails a step whose command is not allow-listed, with the reason, spawning nothing', async () => {
    const shell = await define({
      name: 'shell',
      transport: 'stdio',
      command: 'sh',
      args: ['-c', 'true'],
    });
    const run = await start([{ name: 'x', mcpDefinitionId: shell, tool: 'anything', input: {} }]);
    const done = await finished(run.id);
    expect(done).toMatchObject({
      status: 'FAILED',
      error:
        'Step 0 "x" (anything) failed: command "sh" is not allowed to be spawned (MCP_STDIO_COMMANDS: node, npx)',
    });
  });

  it('fails a step whose template does not resolve, without calling anything', async () => {
    const run = await start([
      {
        name: 'x',
        mcpDefinitionId: stdioId,
        tool: 'echo',
        input: { text: '{{ steps.nope.output }}' },
      },
    ]);
    const done = await finished(run.id);
    expect(done.error).toBe(
      'Step 0 "x" (echo) failed: input.text: {{ steps.nope.output }} does not resolve (no steps.nope)',
    );
  });

  it('two instances on one database execute each of 5 runs exactly once', async () => {
    const other = await createTestApp({
      databaseUrl: t.databaseUrl,
      env: { WORKFLOW_EXECUTOR: 'on', WORKFLOW_POLL_INTERVAL_MS: '100', RATE_LIMIT_MAX: '0' },
    });
    try {
      const runs = [];
      for (let i = 0; i < 5; i++) {
        runs.push(
          await start([
            { name: 'e', mcpDefinitionId: stdioId, tool: 'echo', input: { text: `${i}` } },
          ]),
        );
      }
      for (const run of runs) expect(await finished(run.id)).toMatchObject({ status: 'SUCCEEDED' });
      for (const run of runs) {
        const story = await t.entries('correlation_id = $1', [run.correlationId]);
        expect(story.map((e) => e.details.status ?? e.action_type)).toEqual([
          'PENDING',
          'RUNNING',
          'EXECUTE',
          'SUCCEEDED',
        ]);
        expect(await getSteps(run.id)).toHaveLength(1);
      }
    } finally {
      await other.close();
    }
    await noLeftovers();
  });

  it('leaves no child process behind when the app stops mid-call; the run ends FAILED', async () => {
    // An instance of its own (its own database), so it is the one executing the run.
    const database = await createTestDatabase();
    const alone = await createTestApp({
      databaseUrl: database.url,
      env: { WORKFLOW_EXECUTOR: 'on', WORKFLOW_POLL_INTERVAL_MS: '100' },
    });
    const pool = new Pool({ connectionString: database.url, max: 1 });
    try {
      const def = await alone.http
        .post('/api/v1/mcp-definitions')
        .set('X-User-ID', 'alice')
        .send({
          name: 'fixture',
          transport: 'stdio',
          command: 'node',
          args: [STDIO_FIXTURE],
          env: { MCP_FIXTURE_PID_DIR: pids.dir },
        })
        .expect(201);
      const wf = await alone.http
        .post('/api/v1/workflows')
        .set('X-User-ID', 'alice')
        .send({
          name: 'waits',
          steps: [{ name: 'wait', mcpDefinitionId: def.body.id, tool: 'slow', input: {} }],
        })
        .expect(201);
      const before = new Set(pids.pids());
      const run = await alone.http
        .post(`/api/v1/workflows/${wf.body.id}/runs`)
        .set('X-User-ID', 'alice')
        .expect(201);
      const pid = await waitFor(
        () => pids.pids().find((p) => !before.has(p)),
        'the server to start',
      );
      await waitFor(async () => {
        const { rows } = await pool.query(
          `SELECT status FROM workflow_run_steps WHERE run_id = $1`,
          [run.body.id],
        );
        return rows[0]?.status === 'RUNNING' ? true : undefined;
      }, 'the step to run');
      expect(isAlive(pid)).toBe(true);
      await alone.close();
      expect(isAlive(pid)).toBe(false);
      const { rows } = await pool.query(`SELECT status, error FROM workflow_runs WHERE id = $1`, [
        run.body.id,
      ]);
      expect(rows[0]).toEqual({
        status: 'FAILED',
        error: 'Step 0 "wait" (slow) failed: The service stopped during the call',
      });
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
