import { Body, Controller, Param, Post } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConflictError } from '@/common/errors/domain-error';
import { Audited } from '@/modules/auditing';
import { Roles } from '@/modules/identity';
import { McpDefinitionsService } from '@/modules/mcp-definitions/mcp-definitions.service';
import { WorkflowEngineService } from '@/modules/workflows/workflow-engine.service';
import { WorkflowRunSweeper } from '@/modules/workflows/workflow-run-sweeper';
import { createTestApp, type TestApp } from './helpers/test-app';

/** Audited code that calls audited code: both must be on record, each with its own changes. */
@Roles('editor')
@Controller('test-nested')
class NestedController {
  constructor(private readonly moduleRef: ModuleRef) {}

  @Post(':id/describe-and-run/:runId/:to')
  @Audited({ action: 'UPDATE', entity: 'MCP_DEFINITION' })
  async go(
    @Param('id') id: string,
    @Param('runId') runId: string,
    @Param('to') to: 'RUNNING' | 'SUCCEEDED',
    @Body() body: { description: string },
  ) {
    const mcp = this.moduleRef.get(McpDefinitionsService, { strict: false });
    const engine = this.moduleRef.get(WorkflowEngineService, { strict: false });
    const updated = await mcp.update(id, { description: body.description });
    try {
      await engine.transition(runId, to);
    } catch {
      // An illegal move: the caller carries on; the definition change must still be audited.
    }
    return updated;
  }
}

describe('Workflows (e2e)', () => {
  let t: TestApp;
  let mcpId: string;

  beforeAll(async () => {
    // The test drives the sweep itself: the timer must not race it.
    t = await createTestApp({
      env: { WORKFLOW_RUN_TIMEOUT_SECONDS: '600', WORKFLOW_SWEEP_INTERVAL_SECONDS: '3600' },
      metadata: { controllers: [NestedController] },
    });
  });
  beforeEach(async () => {
    await t.truncate(
      'action_log',
      'audit_outbox',
      'workflow_runs',
      'workflow_definitions',
      'mcp_versions',
      'mcp_definitions',
    );
    const mcp = await t.http
      .post('/api/v1/mcp-definitions')
      .send({ name: 'files', transport: 'stdio', command: 'npx' })
      .expect(201);
    mcpId = mcp.body.id;
  });
  afterAll(() => t.close());

  const workflow = () => ({
    name: 'nightly-report',
    description: 'Reads and summarises',
    steps: [
      {
        name: 'read',
        mcpDefinitionId: mcpId,
        tool: 'read_file',
        input: { path: '/tmp/report.csv' },
      },
    ],
  });

  /** Every entry, those written in the background (rejected attempts, reads) included. */
  const entries = (where?: string, params?: unknown[]) => t.entries(where, params);

  let seq = 0;
  async function startRun(user = 'alice', parameters: object = { day: '2026-11-22' }) {
    const wf = await t.http
      .post('/api/v1/workflows')
      .set('X-User-ID', user)
      .send({ ...workflow(), name: `wf-${++seq}` })
      .expect(201);
    const run = await t.http
      .post(`/api/v1/workflows/${wf.body.id}/runs`)
      .set('X-User-ID', user)
      .send({ parameters })
      .expect(201);
    return { workflowId: wf.body.id as string, run: run.body };
  }

  /** Moves a run to RUNNING through the API. */
  const moveToRunning = (runId: string) =>
    t.http.patch(`/api/v1/workflow-runs/${runId}/status`).send({ status: 'RUNNING' }).expect(200);

  /** Setup only: the run started `interval` ago. */
  const startedAgo = (runId: string, interval: string) =>
    t.db.query(`UPDATE workflow_runs SET started_at = now() - $2::interval WHERE id = $1`, [
      runId,
      interval,
    ]);

  it('audits workflow definition CRUD with diffs', async () => {
    const created = await t.http
      .post('/api/v1/workflows')
      .set('X-User-ID', 'ann')
      .send(workflow())
      .expect(201);
    const id = created.body.id;
    await t.http
      .patch(`/api/v1/workflows/${id}`)
      .set('X-User-ID', 'ann')
      .send({ description: 'Daily' })
      .expect(200);
    await t.http.delete(`/api/v1/workflows/${id}`).set('X-User-ID', 'ann').expect(204);
    const rows = await entries(`entity_type = 'WORKFLOW_DEFINITION'`);
    expect(rows.map((r) => [r.action_type, r.entity_id, r.actor_id])).toEqual([
      ['CREATE', id, 'ann'],
      ['UPDATE', id, 'ann'],
      ['DELETE', id, 'ann'],
    ]);
    expect(rows[1].details).toEqual({
      changes: { description: { from: 'Reads and summarises', to: 'Daily' } },
    });
  });

  it('refuses invalid workflows with 400, no change entry, and one FAILURE entry each', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const body of [
      { ...workflow(), steps: [] },
      { ...workflow(), steps: [{ name: 'x', mcpDefinitionId: missing, tool: 't', input: {} }] },
      { ...workflow(), steps: [{ name: 'x', mcpDefinitionId: 'nope', tool: 't', input: {} }] },
      { ...workflow(), steps: [{ name: 'x', mcpDefinitionId: mcpId, tool: 't', input: 'text' }] },
      {
        ...workflow(),
        steps: [{ name: 'x', mcpDefinitionId: mcpId, tool: 't', input: {}, extra: 1 }],
      },
      { ...workflow(), name: 'Bad Name' },
    ]) {
      const res = await t.http.post('/api/v1/workflows').send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    await t.http.post('/api/v1/workflows').send(workflow()).expect(201);
    await t.http.post('/api/v1/workflows').send(workflow()).expect(409);
    const rows = await entries(`entity_type = 'WORKFLOW_DEFINITION'`);
    expect(rows.map((r) => [r.outcome, r.action_type, r.status_code])).toEqual([
      ...Array.from({ length: 6 }, () => ['FAILURE', 'CREATE', 400]),
      ['SUCCESS', 'CREATE', 201],
      ['FAILURE', 'CREATE', 409],
    ]);
  });

  it('starts a run as user A and moves it RUNNING then SUCCEEDED as user B: three entries, in order', async () => {
    const { run, workflowId } = await startRun('alice', {
      day: '2026-11-22',
      apiKey: 'sk-run-secret',
    });
    expect(run).toMatchObject({
      status: 'PENDING',
      workflowDefinitionId: workflowId,
      startedAt: null,
    });
    const running = await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .set('X-User-ID', 'bob')
      .send({ status: 'RUNNING' })
      .expect(200);
    expect(running.body.startedAt).not.toBeNull();
    const done = await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .set('X-User-ID', 'bob')
      .send({ status: 'SUCCEEDED' })
      .expect(200);
    expect(done.body).toMatchObject({ status: 'SUCCEEDED', finishedAt: expect.any(String) });

    const rows = await entries(`entity_type = 'WORKFLOW_RUN'`);
    expect(rows.map((r) => [r.action_type, r.entity_id, r.actor_id, r.details])).toEqual([
      [
        'CREATE',
        run.id,
        'alice',
        { status: 'PENDING', parameters: { day: '2026-11-22', apiKey: '[REDACTED]' } },
      ],
      ['UPDATE', run.id, 'bob', { status: 'RUNNING', previousStatus: 'PENDING' }],
      ['UPDATE', run.id, 'bob', { status: 'SUCCEEDED', previousStatus: 'RUNNING' }],
    ]);
    // Every entry of the run shares its correlation id, whoever made the change.
    expect(new Set(rows.map((r) => r.correlation_id))).toEqual(new Set([run.correlationId]));
    const story = await t.http
      .get('/api/v1/action-logs')
      .query({ correlationId: run.correlationId })
      .expect(200);
    expect(
      story.body.items.map(
        (e: { actionType: string; details: { status: string } }) => e.details.status,
      ),
    ).toEqual(['SUCCEEDED', 'RUNNING', 'PENDING']);
  });

  it('answers bad status changes with 400, an unknown run with 404, a finished one with 409; no entry', async () => {
    const { run } = await startRun();
    await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .send({ status: 'SUCCEEDED' })
      .expect(409);
    await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .send({ status: 'PENDING' })
      .expect(409);
    await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .send({ status: 'RUNNING', error: 'x' })
      .expect(400);
    await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .send({ status: 'EXPLODED' })
      .expect(400);
    await t.http.post(`/api/v1/workflow-runs/${run.id}/cancel`).expect(200);
    await t.http.post(`/api/v1/workflow-runs/${run.id}/cancel`).expect(409);
    await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .send({ status: 'RUNNING' })
      .expect(409);
    await t.http
      .patch('/api/v1/workflow-runs/00000000-0000-4000-8000-000000000000/status')
      .send({ status: 'RUNNING' })
      .expect(404);
    const rows = await entries(`entity_type = 'WORKFLOW_RUN'`);
    expect(rows.map((r) => r.details.status)).toEqual(['PENDING', 'CANCELLED']);
    expect(rows[1].details).toEqual({ status: 'CANCELLED', previousStatus: 'PENDING' });
  });

  describe('the run state machine, every (from, to) pair', () => {
    type Status = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
    const STATUSES: Status[] = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
    // The machine as the README draws it, written out here rather than imported, so that a
    // change to the code's transition table shows up as a failing pair.
    const LEGAL = new Set([
      'PENDING→RUNNING',
      'PENDING→CANCELLED',
      'RUNNING→SUCCEEDED',
      'RUNNING→FAILED',
      'RUNNING→CANCELLED',
    ]);
    interface Move {
      via: 'PATCH status' | 'POST cancel';
      from: Status;
      to: Status;
    }
    const MOVES = [
      ...STATUSES.flatMap((from) =>
        STATUSES.map((to): Move => ({ via: 'PATCH status', from, to })),
      ),
      ...STATUSES.map((from): Move => ({ via: 'POST cancel', from, to: 'CANCELLED' })),
    ].map((m) => ({ ...m, legal: LEGAL.has(`${m.from}→${m.to}`) }));

    /** A run in `status`, reached through the API as a user would. */
    async function runIn(status: Status): Promise<string> {
      const { run } = await startRun();
      const move = (to: Status, error?: string) =>
        t.http
          .patch(`/api/v1/workflow-runs/${run.id}/status`)
          .send({ status: to, error })
          .expect(200);
      if (status === 'CANCELLED') {
        await t.http.post(`/api/v1/workflow-runs/${run.id}/cancel`).expect(200);
      } else if (status !== 'PENDING') {
        await move('RUNNING');
        if (status === 'SUCCEEDED') await move('SUCCEEDED');
        if (status === 'FAILED') await move('FAILED', 'setup');
      }
      return run.id as string;
    }

    const send = (via: Move['via'], id: string, to: Status) =>
      via === 'POST cancel'
        ? t.http.post(`/api/v1/workflow-runs/${id}/cancel`)
        : t.http.patch(`/api/v1/workflow-runs/${id}/status`).send({ status: to });

    const updates = (id: string) =>
      entries(`entity_type = 'WORKFLOW_RUN' AND action_type = 'UPDATE' AND entity_id = $1`, [id]);

    it.each(MOVES.filter((m) => m.legal))(
      '$via moves a $from run to $to: 200 and exactly one entry { status, previousStatus }',
      async ({ via, from, to }) => {
        const id = await runIn(from);
        const before = await updates(id);

        const res = await send(via, id, to);

        expect(res.status).toBe(200);
        expect(res.body.status).toBe(to);
        const added = (await updates(id)).slice(before.length);
        expect(added.map((r) => r.details)).toEqual([{ status: to, previousStatus: from }]);
      },
    );

    it.each(MOVES.filter((m) => !m.legal))(
      '$via refuses to move a $from run to $to: 409, the run unchanged, no entry',
      async ({ via, from, to }) => {
        const id = await runIn(from);
        const before = await updates(id);

        const res = await send(via, id, to);

        expect(res.status).toBe(409);
        const run = await t.http.get(`/api/v1/workflow-runs/${id}`).expect(200);
        expect(run.body.status).toBe(from);
        expect(await updates(id)).toEqual(before);
      },
    );
  });

  it('records a failure with its error', async () => {
    const { run } = await startRun();
    await moveToRunning(run.id);
    const failed = await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .send({ status: 'FAILED', error: 'tool read_file: ENOENT' })
      .expect(200);
    expect(failed.body).toMatchObject({ status: 'FAILED', error: 'tool read_file: ENOENT' });
    const [last] = (await entries(`entity_type = 'WORKFLOW_RUN'`)).slice(-1);
    expect(last.details).toEqual({
      status: 'FAILED',
      previousStatus: 'RUNNING',
      error: 'tool read_file: ENOENT',
    });
  });

  it('lets exactly one of 20 concurrent identical transitions succeed, with one entry', async () => {
    const { run } = await startRun();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.http
          .patch(`/api/v1/workflow-runs/${run.id}/status`)
          .set('X-User-ID', `racer-${i}`)
          .send({ status: 'RUNNING' }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array(19).fill(409)]);
    const updates = await entries(`entity_type = 'WORKFLOW_RUN' AND action_type = 'UPDATE'`);
    expect(updates).toHaveLength(1);
    const winner = results.find((r) => r.status === 200)!;
    expect(updates[0].request_id).toBe(winner.headers['x-request-id']);
  });

  it('marks a run stuck in RUNNING as FAILED, audited as `system` under the run correlation id', async () => {
    const { run } = await startRun('alice');
    await t.http
      .patch(`/api/v1/workflow-runs/${run.id}/status`)
      .set('X-User-ID', 'runner')
      .send({ status: 'RUNNING' })
      .expect(200);
    const fresh = (await startRun('alice')).run;
    await moveToRunning(fresh.id);
    await startedAgo(run.id, '2 hours');

    const sweeper = t.app.get(WorkflowRunSweeper);
    expect(await sweeper.sweep()).toBe(1);
    expect(await sweeper.sweep()).toBe(0); // nothing left to do, nothing written twice

    const swept = await t.http.get(`/api/v1/workflow-runs/${run.id}`).expect(200);
    expect(swept.body).toMatchObject({
      status: 'FAILED',
      error: 'Timed out after 600 s in RUNNING',
    });
    expect((await t.http.get(`/api/v1/workflow-runs/${fresh.id}`).expect(200)).body.status).toBe(
      'RUNNING',
    );

    const [entry] = (await entries(`entity_id = $1`, [run.id])).slice(-1);
    expect(entry).toMatchObject({
      actor_id: 'system',
      action_type: 'UPDATE',
      entity_type: 'WORKFLOW_RUN',
      details: {
        status: 'FAILED',
        previousStatus: 'RUNNING',
        error: 'Timed out after 600 s in RUNNING',
      },
      correlation_id: run.correlationId,
      request_id: null,
      ip: null,
      user_agent: null,
      method: null,
      path: null,
    });
  });

  it('lets two instances sweep the same database without failing a run twice', async () => {
    const other = await createTestApp({
      databaseUrl: t.databaseUrl,
      env: { WORKFLOW_RUN_TIMEOUT_SECONDS: '600', WORKFLOW_SWEEP_INTERVAL_SECONDS: '3600' },
    });
    try {
      const runs = [];
      for (let i = 0; i < 5; i++) {
        const { run } = await startRun(`u${i}`);
        await moveToRunning(run.id);
        runs.push(run.id as string);
      }
      await t.db.query(`UPDATE workflow_runs SET started_at = now() - interval '2 hours'`);
      const [a, b] = await Promise.all([
        t.app.get(WorkflowRunSweeper).sweep(),
        other.app.get(WorkflowRunSweeper).sweep(),
      ]);
      expect(a + b).toBe(5);
      const failures = await entries(
        `entity_type = 'WORKFLOW_RUN' AND details->>'status' = 'FAILED'`,
      );
      expect(failures.map((r) => r.entity_id).sort()).toEqual([...runs].sort());
    } finally {
      await other.close();
    }
  });

  it('fails a timed-out run on its own, within a few sweep intervals, without being asked', async () => {
    const { run } = await startRun();
    await moveToRunning(run.id);
    // Setup only: it started two hours ago.
    await startedAgo(run.id, '2 hours');
    // An instance that sweeps every second; nobody calls sweep().
    const other = await createTestApp({
      databaseUrl: t.databaseUrl,
      env: { WORKFLOW_RUN_TIMEOUT_SECONDS: '600', WORKFLOW_SWEEP_INTERVAL_SECONDS: '1' },
    });
    try {
      let status = 'RUNNING';
      for (let i = 0; i < 100 && status === 'RUNNING'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await t.http.get(`/api/v1/workflow-runs/${run.id}`).expect(200)).body.status;
      }
      expect(status).toBe('FAILED');
    } finally {
      await other.close();
    }
    const [entry] = (await entries(`entity_id = $1`, [run.id])).slice(-1);
    expect(entry).toMatchObject({ actor_id: 'system', details: { status: 'FAILED' } });
  });

  it('leaves RUNNING a run older than the sweep interval but younger than the timeout', async () => {
    // An instance whose interval (600 s) is shorter than its timeout (3600 s): only the timeout
    // may fail a run. Its timer does not fire during the test.
    const other = await createTestApp({
      databaseUrl: t.databaseUrl,
      env: { WORKFLOW_RUN_TIMEOUT_SECONDS: '3600', WORKFLOW_SWEEP_INTERVAL_SECONDS: '600' },
    });
    try {
      const { run } = await startRun();
      await moveToRunning(run.id);
      // Setup only: started 30 minutes ago (past the interval, well inside the timeout).
      await startedAgo(run.id, '30 minutes');
      const before = await entries(`entity_id = $1`, [run.id]);

      expect(await other.app.get(WorkflowRunSweeper).sweep()).toBe(0);

      const after = await t.http.get(`/api/v1/workflow-runs/${run.id}`).expect(200);
      expect(after.body).toMatchObject({ status: 'RUNNING', error: null, finishedAt: null });
      expect(await entries(`entity_id = $1`, [run.id])).toEqual(before);
    } finally {
      await other.close();
    }
  });

  it('refuses to time out a run that has not been RUNNING for the timeout: conflict, no entry', async () => {
    const { run } = await startRun();
    await moveToRunning(run.id);
    const before = await entries(`entity_id = $1`, [run.id]);

    await expect(t.app.get(WorkflowEngineService).failTimedOut(run.id, 600)).rejects.toThrow(
      ConflictError,
    );

    const after = await t.http.get(`/api/v1/workflow-runs/${run.id}`).expect(200);
    expect(after.body).toMatchObject({ status: 'RUNNING', error: null, finishedAt: null });
    expect(await entries(`entity_id = $1`, [run.id])).toEqual(before);
  });

  it("lists a workflow's runs newest first with a status filter and keyset pages", async () => {
    const { workflowId } = await startRun();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.http.post(`/api/v1/workflows/${workflowId}/runs`).send({}).expect(201);
      ids.push(res.body.id);
    }
    await t.http.post(`/api/v1/workflow-runs/${ids[1]}/cancel`).expect(200);
    const page1 = await t.http
      .get(`/api/v1/workflows/${workflowId}/runs`)
      .query({ limit: 3 })
      .expect(200);
    const page2 = await t.http
      .get(`/api/v1/workflows/${workflowId}/runs`)
      .query({ limit: 3, cursor: page1.body.nextCursor })
      .expect(200);
    const all = [...page1.body.items, ...page2.body.items];
    expect(all).toHaveLength(5);
    expect(new Set(all.map((r: { id: string }) => r.id)).size).toBe(5);
    const cancelled = await t.http
      .get(`/api/v1/workflows/${workflowId}/runs`)
      .query({ status: 'CANCELLED' })
      .expect(200);
    expect(cancelled.body.items.map((r: { id: string }) => r.id)).toEqual([ids[1]]);
    await t.http.get(`/api/v1/workflows/${workflowId}/runs`).query({ status: 'NOPE' }).expect(400);
    await t.http.delete(`/api/v1/workflows/${workflowId}`).expect(409);
  });

  it('audits audited code called from audited code, each entry with its own changes', async () => {
    const { run } = await startRun();
    await t.http
      .post(`/api/v1/test-nested/${mcpId}/describe-and-run/${run.id}/RUNNING`)
      .set('X-User-ID', 'nina')
      .send({ description: 'first' })
      .expect(201);
    // The nested transition is illegal now (RUNNING → RUNNING): the caller goes on.
    await t.http
      .post(`/api/v1/test-nested/${mcpId}/describe-and-run/${run.id}/RUNNING`)
      .set('X-User-ID', 'nina')
      .send({ description: 'second' })
      .expect(201);

    const defs = await entries(`entity_type = 'MCP_DEFINITION' AND action_type = 'UPDATE'`);
    expect(defs.map((r) => [r.actor_id, r.details])).toEqual([
      ['nina', { changes: { description: { from: '', to: 'first' } } }],
      ['nina', { changes: { description: { from: 'first', to: 'second' } } }],
    ]);
    const moves = await entries(`entity_type = 'WORKFLOW_RUN' AND action_type = 'UPDATE'`);
    expect(moves.map((r) => [r.actor_id, r.details, r.correlation_id])).toEqual([
      ['nina', { status: 'RUNNING', previousStatus: 'PENDING' }, run.correlationId],
    ]);
    expect(moves[0].request_id).toBe(defs[0].request_id);
  });
});
