import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import {
  fuzzRequests,
  type IdKind,
  toWire,
  type FuzzRequest,
  type OpenApiDocument,
} from './helpers/fuzz-requests';
import { rawRequest, startListening, type RawResponse } from './helpers/raw-http';
import { createTestApp, type TestApp } from './helpers/test-app';

/**
 * Requests generated from the OpenAPI document, hostile values mixed in (see fuzz-requests.ts),
 * against the real app on the test database. `npm test` runs a few hundred; `npm run fuzz`
 * runs FUZZ_RUNS (3000 by default there); FUZZ_SEED replays a failure fast-check reported.
 *
 * It asserts what every caller relies on: no 5xx; every error in the one shape with its
 * request id (body and `X-Request-ID`); the planted secret never in a log line nor in the
 * audit trail, and the one planted in `Authorization`/`Cookie` never in a response (`env` values
 * and `password`-like fields of workflows are returned to callers by design, so responses are
 * not checked for those); every log line one JSON object, none forged by input text; no
 * prototype pollution of the process.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

describe('Fuzz: requests generated from the OpenAPI document (e2e)', () => {
  const secret = `fz-secret-${randomUUID()}`;
  const headerSecret = `fz-credential-${randomUUID()}`;
  const forgedMarker = `forged-${randomUUID()}`;
  const logged: string[] = [];
  let t: TestApp;
  let port: number;
  /** Mutated in place by seed(): the generators read it when they draw. */
  const ids = {} as Record<IdKind, string>;

  beforeAll(async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: 'info' },
      logStream: { write: (line: string) => void logged.push(line) },
    });
    port = await startListening(t.app);
    await seed();
  });
  afterAll(() => t.close());

  let generation = 0;
  /**
   * Rows for the generated requests to hit, made again when a request deleted them or ended
   * the run, so requests keep reaching the services (and the audit) instead of 404/409.
   */
  async function seed(): Promise<void> {
    const alive = ids.mcp
      ? await t.db.query(
          `SELECT 1 FROM mcp_definitions m, workflow_definitions w, workflow_runs r, mcp_versions v
           WHERE m.id = $1 AND w.id = $2 AND r.id = $3 AND v.id = $4
             AND r.status IN ('PENDING', 'RUNNING')`,
          [ids.mcp, ids.workflow, ids.run, ids.version],
        )
      : { rows: [] };
    if (alive.rows.length > 0) return;
    const n = ++generation;
    const mcp = await t.http
      .post('/api/v1/mcp-definitions')
      .set('X-User-ID', 'seed')
      .send({
        name: `seed-${n}`,
        transport: 'stdio',
        command: 'npx',
        env: { TOKEN: secret },
      })
      .expect(201);
    const version = await t.http
      .post(`/api/v1/mcp-definitions/${mcp.body.id}/versions`)
      .send({ version: '1.0.0', manifest: { tools: [] } })
      .expect(201);
    const workflow = await t.http
      .post('/api/v1/workflows')
      .send({
        name: `seed-flow-${n}`,
        steps: [
          { name: 's', mcpDefinitionId: mcp.body.id, tool: 't', input: { password: secret } },
        ],
      })
      .expect(201);
    const run = await t.http
      .post(`/api/v1/workflows/${workflow.body.id}/runs`)
      .send({})
      .expect(201);
    const { rows } = await t.db.query<{ id: string }>('SELECT id FROM action_log LIMIT 1');
    Object.assign(ids, {
      mcp: mcp.body.id,
      version: version.body.id,
      workflow: workflow.body.id,
      run: run.body.id,
      log: rows[0].id,
    });
  }

  function checkResponse(req: FuzzRequest, res: RawResponse): void {
    const what = `${req.method} ${req.path.slice(0, 200)} → ${res.status} ${res.text.slice(0, 500)}`;
    if (res.status === 0) throw new Error(`no response: ${what}`);
    if (res.status >= 500) throw new Error(`server error: ${what}`);
    // Only the header-planted secret: env values are returned to callers by design.
    if (res.text.includes(headerSecret)) throw new Error(`credential echoed: ${what}`);
    if (res.status >= 400 && req.method !== 'HEAD') {
      const body = res.body;
      const shape = Object.keys(body).sort().join(',');
      if (shape !== 'error,message,requestId,statusCode') throw new Error(`error shape: ${what}`);
      if (body.statusCode !== res.status) throw new Error(`statusCode ≠ status: ${what}`);
      if (typeof body.requestId !== 'string' || res.headers['x-request-id'] !== body.requestId) {
        throw new Error(`request id missing or different from X-Request-ID: ${what}`);
      }
    }
  }

  function checkLogLines(lines: string[]): void {
    for (const line of lines.join('').split('\n')) {
      if (line === '') continue;
      const parsed: unknown = JSON.parse(line); // throws on a broken or forged line
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new Error(`log line is not one JSON object: ${line.slice(0, 300)}`);
      }
      if ('forged' in parsed) throw new Error(`forged log line: ${line.slice(0, 300)}`);
      if (line.includes(secret) || line.includes(headerSecret)) {
        throw new Error(`secret in a log line: ${line.slice(0, 300)}`);
      }
    }
  }

  it(
    `answers ${RUNS} generated requests without a 5xx, in the one error shape, leaking nothing`,
    async () => {
      const doc = (await t.http.get('/docs-json').expect(200)).body as OpenApiDocument;
      const requests = fuzzRequests(doc, { ids, secret, headerSecret, forgedMarker });
      const seen = new Map<number, number>();

      await fc.assert(
        fc.asyncProperty(requests, async (req) => {
          await seed();
          const from = logged.length;
          const res = await rawRequest(port, toWire(req), { maxMs: 10_000 });
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          checkResponse(req, res);
          checkLogLines(logged.slice(from));
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: RUNS > 1000 },
      );

      // Log lines written after a response (request-completed lines) are checked here too.
      checkLogLines(logged);
      // Secrets never reach the audit trail (env values and password-like keys are redacted).
      // Entries written in the background (reads of the trail, rejected attempts) included.
      await t.flushAudit();
      const leaked = await t.db.query(
        `SELECT 'action_log' AS "table", id::text, row_to_json(a)::text AS "row" FROM action_log a
          WHERE strpos(row_to_json(a)::text, $1) > 0 OR strpos(row_to_json(a)::text, $2) > 0
         UNION ALL
         SELECT 'audit_outbox', event_id::text, row_to_json(o)::text FROM audit_outbox o
          WHERE strpos(row_to_json(o)::text, $1) > 0 OR strpos(row_to_json(o)::text, $2) > 0`,
        [secret, headerSecret],
      );
      // The whole row when it fails: the place the secret reached is the clue.
      expect(leaked.rows).toEqual([]);
      expect(Object.prototype).not.toHaveProperty('polluted');
      // The generator reaches past validation: some requests succeed, some are refused.
      const statuses = [...seen.keys()];
      expect(statuses.some((s) => s < 300)).toBe(true);
      expect(statuses.some((s) => s >= 400)).toBe(true);
    },
    60_000 + RUNS * 100,
  );
});
