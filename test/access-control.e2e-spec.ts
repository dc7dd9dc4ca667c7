import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, Get } from '@nestjs/common';
import { ROLES, type Role } from '@/modules/identity';
import { startAppProcess } from './helpers/app-process';
import { createTestApp, type TestApp } from './helpers/test-app';
import { listRoutes, type RouteInfo } from './helpers/routes';

/** A route someone forgot to declare: the guard must refuse it, whoever calls. */
@Controller('test-bare')
class BareController {
  @Get()
  open(): string {
    return 'should never be served';
  }
}

/**
 * The access policy of the issue, route by route: which roles may call it (admin always may).
 * A new route fails the tests below until it is added here, with a decision.
 */
const POLICY: Record<string, Role[] | 'public'> = {
  'GET /api/v1/health': 'public',
  'GET /api/v1/health/audit': ['admin'],
  'POST /api/v1/mcp-definitions': ['editor'],
  'GET /api/v1/mcp-definitions': ['viewer'],
  'GET /api/v1/mcp-definitions/:id': ['viewer'],
  'PATCH /api/v1/mcp-definitions/:id': ['editor'],
  'DELETE /api/v1/mcp-definitions/:id': ['editor'],
  'POST /api/v1/mcp-definitions/:id/versions': ['editor'],
  'GET /api/v1/mcp-definitions/:id/versions': ['viewer'],
  'GET /api/v1/mcp-definitions/:id/versions/:version': ['viewer'],
  'POST /api/v1/workflows': ['editor'],
  'GET /api/v1/workflows': ['viewer'],
  'GET /api/v1/workflows/:id': ['viewer'],
  'PATCH /api/v1/workflows/:id': ['editor'],
  'DELETE /api/v1/workflows/:id': ['editor'],
  'POST /api/v1/workflows/:id/runs': ['operator'],
  'GET /api/v1/workflows/:id/runs': ['viewer'],
  'GET /api/v1/workflow-runs/:id': ['viewer'],
  'PATCH /api/v1/workflow-runs/:id/status': ['operator'],
  'POST /api/v1/workflow-runs/:id/cancel': ['operator'],
  'GET /api/v1/action-logs': ['auditor'],
  'GET /api/v1/action-logs/:id': ['auditor'],
  'GET /api/v1/action-logs/entities/:entityType/:entityId': ['auditor'],
  'POST /api/v1/action-logs/bulk': ['admin'],
  'GET /api/v1/action-logs/export': ['auditor'],
  'GET /api/v1/action-logs/verify': ['auditor'],
  'GET /api/v1/action-logs/:id/proof': ['auditor'],
  'GET /api/v1/action-logs/public-key': 'public',
  'POST /api/v1/action-logs/holds': ['auditor'],
  'GET /api/v1/action-logs/holds': ['auditor'],
  'DELETE /api/v1/action-logs/holds/:id': ['auditor'],
  'POST /api/v1/mcp-definitions/:id/discover': ['editor'],
  'GET /api/v1/workflow-runs/:id/steps': ['viewer'],
  'POST /api/v1/mcp-definitions/import': ['editor'],
  'GET /api/v1/mcp-definitions/export': ['viewer'],
};

/** Ids that exist nowhere: a caller the guard lets through gets 404/400, never a change. */
const concrete = (path: string): string =>
  path
    .replace(':entityType', 'MCP_DEFINITION')
    .replace(':version', '9.9.9')
    .replace(/:[A-Za-z]+/g, '999999');

function call(t: TestApp, route: RouteInfo, headers: Record<string, string>) {
  const url = concrete(route.path);
  const req =
    route.method === 'GET'
      ? t.http.get(url)
      : route.method === 'POST'
        ? t.http.post(url)
        : route.method === 'PATCH'
          ? t.http.patch(url)
          : route.method === 'DELETE'
            ? t.http.delete(url)
            : undefined;
  if (!req) throw new Error(`no driver for ${route.method}`);
  return req
    .set(headers)
    .send(route.method === 'GET' || route.method === 'DELETE' ? undefined : {});
}

describe('Access control (e2e, header mode)', () => {
  let t: TestApp;
  let routes: RouteInfo[];

  beforeAll(async () => {
    t = await createTestApp({ metadata: { controllers: [BareController] } });
    routes = listRoutes(t.app).filter((r) => r.controller !== BareController.name);
  });
  afterAll(() => t.close());

  it('finds the routes (the walk itself works)', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    expect(routes.map((r) => r.key)).toContain('POST /api/v1/mcp-definitions');
  });

  it('every route the application registers declares @Roles or @Public', () => {
    const bare = routes.filter((r) => r.rule === undefined).map((r) => r.key);
    expect(bare).toEqual([]);
  });

  it('every route has a decided policy, and its declaration matches it', () => {
    const declared = Object.fromEntries(
      routes.map((r) => [r.key, r.rule?.public ? 'public' : [...(r.rule?.roles ?? [])].sort()]),
    );
    const decided = Object.fromEntries(
      Object.entries(POLICY).map(([k, v]) => [k, v === 'public' ? v : [...v].sort()]),
    );
    expect(declared).toEqual(decided);
  });

  it('refuses a route without a declaration to everyone, admin included (fail-safe)', async () => {
    const res = await t.http.get('/api/v1/test-bare').set('X-User-Roles', 'admin').expect(403);
    expect(res.body).toMatchObject({ statusCode: 403, error: 'Forbidden' });
    expect(res.body.requestId).toEqual(expect.any(String));
  });

  it('gives each role exactly the routes its row allows (and nothing without a role)', async () => {
    const callers: (Role | 'none')[] = [...ROLES, 'none'];
    const outcome: Record<string, Record<string, 'allowed' | 'denied'>> = {};
    const expected: Record<string, Record<string, 'allowed' | 'denied'>> = {};
    for (const route of routes) {
      const policy = POLICY[route.key];
      for (const caller of callers) {
        const res = await call(t, route, {
          'X-User-ID': `matrix-${caller}`,
          'X-User-Roles': caller === 'none' ? '' : caller,
        });
        (outcome[caller] ??= {})[route.key] =
          res.status === 401 || res.status === 403 ? 'denied' : 'allowed';
        if (res.status === 403) expect(res.body.message).toMatch(/^role .* required$/);
        (expected[caller] ??= {})[route.key] =
          policy === 'public' ||
          caller === 'admin' ||
          (caller !== 'none' && policy?.includes(caller))
            ? 'allowed'
            : 'denied';
      }
    }
    expect(outcome).toEqual(expected);
    // Every refusal on an audited route is on the record: one DENIED entry each, by the caller.
    await t.flushAudit();
    const { rows: denied } = await t.db.query<{ actor_id: string; method: string; path: string }>(
      `SELECT actor_id, method, path FROM action_log WHERE outcome = 'DENIED'`,
    );
    const deniedKeys = denied.map((d) => `${d.actor_id} ${d.method}`).sort();
    const expectedKeys = routes
      .filter((r) => r.audited)
      .flatMap((r) =>
        callers
          .filter((c) => expected[c][r.key] === 'denied')
          .map((c) => `matrix-${c} ${r.method}`),
      )
      .sort();
    expect(expectedKeys.length).toBeGreaterThan(0);
    expect(deniedKeys).toEqual(expectedKeys);
    // The walk wrote nothing: every allowed call hit an id that does not exist.
    const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM mcp_definitions`);
    expect(Number(rows[0].n)).toBe(0);
  });

  it('names the roles a refused caller lacks, in the one error shape', async () => {
    const res = await t.http
      .post('/api/v1/mcp-definitions')
      .set({ 'X-User-ID': 'vera', 'X-User-Roles': 'viewer,auditor' })
      .send({ name: 'nope', transport: 'stdio', command: 'x' })
      .expect(403);
    expect(res.body).toEqual({
      statusCode: 403,
      message: 'role editor or admin required',
      error: 'Forbidden',
      requestId: expect.any(String),
    });
  });

  it('records a caller without X-User-ID as `anonymous` (never `system`), with every role', async () => {
    const res = await t.http
      .post('/api/v1/mcp-definitions')
      .send({ name: 'anon-made', transport: 'stdio', command: 'x' })
      .expect(201);
    const { rows } = await t.db.query<{ actor_id: string }>(
      `SELECT actor_id FROM action_log WHERE entity_type = 'MCP_DEFINITION' AND entity_id = $1`,
      [String(res.body.id)],
    );
    expect(rows).toEqual([{ actor_id: 'anonymous' }]);
  });

  it('refuses a caller claiming to be `system` (or `anonymous`) with 400, writing nothing', async () => {
    for (const claimed of ['system', 'anonymous']) {
      const res = await t.http
        .post('/api/v1/mcp-definitions')
        .set('X-User-ID', claimed)
        .send({ name: `as-${claimed}`, transport: 'stdio', command: 'x' })
        .expect(400);
      expect(res.body.message).toMatch(/X-User-ID .* is reserved/);
    }
    const { rows } = await t.db.query(`SELECT 1 FROM mcp_definitions WHERE name LIKE 'as-%'`);
    expect(rows).toEqual([]);
  });

  it('refuses an X-User-Roles that names an unknown role with 400', async () => {
    const res = await t.http
      .get('/api/v1/mcp-definitions')
      .set({ 'X-User-ID': 'ida', 'X-User-Roles': 'viewer,root' })
      .expect(400);
    expect(res.body.message).toMatch(/X-User-Roles must be a comma list of viewer/);
  });
});

describe('Rate limiting (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_SECONDS: '60' } });
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After after the burst, per actor, in the one error shape', async () => {
    for (let i = 0; i < 5; i++) {
      const ok = await t.http.get('/api/v1/mcp-definitions').set('X-User-ID', 'alice').expect(200);
      expect(ok.headers['x-ratelimit-limit']).toBe('5');
      expect(ok.headers['x-ratelimit-remaining']).toBe(String(4 - i));
    }
    const limited = await t.http
      .get('/api/v1/workflows') // another route: the budget is the actor's, not the route's
      .set('X-User-ID', 'alice')
      .expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).toEqual({
      statusCode: 429,
      message: expect.stringMatching(/rate limit of 5 requests per 60 s/),
      error: 'Too Many Requests',
      requestId: expect.any(String),
    });
    // Another actor has a budget of its own.
    await t.http.get('/api/v1/mcp-definitions').set('X-User-ID', 'bob').expect(200);
  });

  it('never throttles /health', async () => {
    for (let i = 0; i < 12; i++) {
      const res = await t.http.get('/api/v1/health').expect(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it('counts refused requests too (by address): a flood of bad identities is slowed', async () => {
    for (let i = 0; i < 5; i++) {
      await t.http.get('/api/v1/mcp-definitions').set('X-User-ID', 'system').expect(400);
    }
    await t.http.get('/api/v1/mcp-definitions').set('X-User-ID', 'system').expect(429);
  });
});

describe('Rate limiting off (RATE_LIMIT_MAX=0)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '0' } });
  });
  afterAll(() => t.close());

  it('neither limits nor sends rate limit headers', async () => {
    for (let i = 0; i < 8; i++) {
      const res = await t.http.get('/api/v1/workflows').set('X-User-ID', 'bench').expect(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });
});

describe('Boot in production (the built service as a child process)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcp-auth-boot-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('refuses header mode without AUTH_ALLOW_HEADER_MODE, naming the variable', async () => {
    const p = await startAppProcess(join(root, 'pg'), {
      AUTH_MODE: 'header',
      AUTH_ALLOW_HEADER_MODE: 'false',
    });
    expect(p.ready).toBe(false);
    expect((await p.exited).code).toBe(1);
    expect(logText(p.lines)).toMatch(/AUTH_MODE="header".*AUTH_ALLOW_HEADER_MODE=true/);
  });

  it('refuses the default (jwt) mode without a key, naming the variables', async () => {
    const p = await startAppProcess(join(root, 'pg'), {
      AUTH_MODE: '',
      AUTH_ALLOW_HEADER_MODE: '',
    });
    expect(p.ready).toBe(false);
    expect((await p.exited).code).toBe(1);
    expect(logText(p.lines)).toMatch(/JWT_PUBLIC_KEY_FILE, JWT_SECRET, JWT_JWKS_URL/);
  });

  it('refuses to start without a checkpoint signing key, naming the variable', async () => {
    const p = await startAppProcess(
      join(root, 'pg-nokey'),
      {},
      { unset: ['AUDIT_SIGNING_KEY_FILE'] },
    );
    expect(p.ready).toBe(false);
    expect((await p.exited).code).toBe(1);
    expect(logText(p.lines)).toMatch(/AUDIT_SIGNING_KEY_FILE is required when NODE_ENV=production/);
  });
});

/** The child's log lines as text (JSON lines: their messages). */
function logText(lines: string[]): string {
  return lines
    .map((l) => {
      try {
        const { msg } = JSON.parse(l) as { msg?: unknown };
        return typeof msg === 'string' ? msg : l;
      } catch {
        return l;
      }
    })
    .join('\n');
}
