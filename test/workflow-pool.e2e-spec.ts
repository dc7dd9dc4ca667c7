import { McpConnector } from '@/modules/mcp-definitions';
import { createTestApp, type TestApp } from './helpers/test-app';
import { isAlive, pidDir, STDIO_FIXTURE, waitFor } from './fixtures/mcp/servers';

const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

describe('Warm stdio server pool (e2e, MCP_STDIO_POOL_SIZE=2)', () => {
  let t: TestApp;
  const pids = pidDir();
  let defId: string;
  let counter = 0;

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        WORKFLOW_EXECUTOR: 'on',
        WORKFLOW_POLL_INTERVAL_MS: '200',
        MCP_STDIO_POOL_SIZE: '2',
        RATE_LIMIT_MAX: '0',
      },
    });
    const def = await t.http
      .post('/api/v1/mcp-definitions')
      .set('X-User-ID', 'alice')
      .send({
        name: 'pooled',
        transport: 'stdio',
        command: 'node',
        args: [STDIO_FIXTURE],
        env: { MCP_FIXTURE_PID_DIR: pids.dir },
      })
      .expect(201);
    defId = def.body.id;
  });
  afterAll(() => pids.remove());

  async function run(tool: string): Promise<{ id: string; status: string; pid?: number }> {
    const wf = await t.http
      .post('/api/v1/workflows')
      .set('X-User-ID', 'alice')
      .send({
        name: `wf-${++counter}`,
        steps: [{ name: 's', mcpDefinitionId: defId, tool, input: {} }],
      })
      .expect(201);
    const started = await t.http
      .post(`/api/v1/workflows/${wf.body.id}/runs`)
      .set('X-User-ID', 'alice')
      .expect(201);
    return { id: started.body.id, status: 'PENDING' };
  }
  const finished = (id: string) =>
    waitFor(async () => {
      const res = await t.http.get(`/api/v1/workflow-runs/${id}`).set('X-User-ID', 'alice');
      return FINAL.includes(res.body.status) ? (res.body as { status: string }) : undefined;
    }, `run ${id}`);
  const pidOf = async (runId: string) => {
    const res = await t.http.get(`/api/v1/workflow-runs/${runId}/steps`).set('X-User-ID', 'alice');
    return JSON.parse(res.body.items[0].output.content).pid as number;
  };

  it('serves the next run’s step with the warm server of the previous one', async () => {
    const first = await run('pid');
    expect(await finished(first.id)).toMatchObject({ status: 'SUCCEEDED' });
    const second = await run('pid');
    expect(await finished(second.id)).toMatchObject({ status: 'SUCCEEDED' });
    const pid = await pidOf(first.id);
    expect(await pidOf(second.id)).toBe(pid);
    expect(pids.pids()).toEqual([pid]);
    expect(t.app.get(McpConnector).idleCount).toBe(1);
  });

  it('never hands on a server whose call was cancelled: it is stopped, the next run spawns anew', async () => {
    const before = new Set(pids.pids());
    const slow = await run('slow');
    // The warm server takes it; wait until the call is in flight.
    await waitFor(async () => {
      const res = await t.http
        .get(`/api/v1/workflow-runs/${slow.id}/steps`)
        .set('X-User-ID', 'alice');
      return res.body.items[0]?.status === 'RUNNING' ? true : undefined;
    }, 'the slow step');
    const busy = [...before][0];
    await t.http
      .post(`/api/v1/workflow-runs/${slow.id}/cancel`)
      .set('X-User-ID', 'alice')
      .expect(200);
    expect(await finished(slow.id)).toMatchObject({ status: 'CANCELLED' });
    await waitFor(() => (isAlive(busy) ? undefined : true), 'the cancelled server to exit');
    const next = await run('pid');
    expect(await finished(next.id)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await pidOf(next.id)).not.toBe(busy);
  });

  it('does not reuse a server after its definition changed', async () => {
    const a = await run('pid');
    await finished(a.id);
    const warm = await pidOf(a.id);
    await t.http
      .patch(`/api/v1/mcp-definitions/${defId}`)
      .set('X-User-ID', 'alice')
      .send({ env: { EXTRA: 'new-variable' } })
      .expect(200);
    const b = await run('pid');
    expect(await finished(b.id)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await pidOf(b.id)).not.toBe(warm);
    await waitFor(() => (isAlive(warm) ? undefined : true), 'the outdated server to exit');
  });

  it('stops the warm servers with the app', async () => {
    const alive = pids.pids().filter(isAlive);
    expect(alive.length).toBeGreaterThan(0);
    await t.close();
    expect(pids.pids().filter(isAlive)).toEqual([]);
  });
});
