import { createTestApp, type TestApp } from './helpers/test-app';
import { rawRequest, startListening } from './helpers/raw-http';

const API = '/api/v1';
const UUID = /^[0-9a-f-]{36}$/;

/** A JSON document nested `levels` arrays deep, as raw text (JSON.stringify would recurse). */
const deepArrays = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);

function expectErrorShape(
  res: { status: number; body: unknown; headers: Record<string, unknown> },
  status: number,
): void {
  expect(res.status).toBe(status);
  const body = res.body as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'message', 'requestId', 'statusCode']);
  expect(body.statusCode).toBe(status);
  expect(res.headers['x-request-id']).toBe(body.requestId);
}

describe('Hardening: hostile input (e2e)', () => {
  let t: TestApp;
  let mcpId: string;
  let workflowId: string;
  let runId: string;

  beforeAll(async () => {
    t = await createTestApp();
    mcpId = (
      await t.http
        .post(`${API}/mcp-definitions`)
        .send({ name: 'files', transport: 'stdio', command: 'npx' })
        .expect(201)
    ).body.id;
    workflowId = (
      await t.http
        .post(`${API}/workflows`)
        .send({
          name: 'nightly',
          steps: [{ name: 'read', mcpDefinitionId: mcpId, tool: 'read_file', input: {} }],
        })
        .expect(201)
    ).body.id;
    runId = (await t.http.post(`${API}/workflows/${workflowId}/runs`).send({}).expect(201)).body.id;
  });
  afterAll(() => t.close());

  describe('NUL characters', () => {
    const nul = 'a\u0000b';
    const cases: [string, () => [method: 'post' | 'patch', url: string, body: object], string][] = [
      [
        'description',
        () => [
          'post',
          `${API}/mcp-definitions`,
          { name: 'n1', transport: 'stdio', command: 'x', description: nul },
        ],
        'description',
      ],
      [
        'an args item',
        () => [
          'post',
          `${API}/mcp-definitions`,
          { name: 'n2', transport: 'stdio', command: 'x', args: ['ok', nul] },
        ],
        'args.1',
      ],
      [
        'an env value',
        () => ['patch', `${API}/mcp-definitions/${mcpId}`, { env: { TOKEN: nul } }],
        'env.TOKEN',
      ],
      [
        'a changelog',
        () => [
          'post',
          `${API}/mcp-definitions/${mcpId}/versions`,
          { version: '1.0.0', manifest: {}, changelog: nul },
        ],
        'changelog',
      ],
      [
        'a step name',
        () => [
          'patch',
          `${API}/workflows/${workflowId}`,
          { steps: [{ name: nul, mcpDefinitionId: mcpId, tool: 't', input: {} }] },
        ],
        'steps.0.name',
      ],
      [
        'a run error',
        () => ['patch', `${API}/workflow-runs/${runId}/status`, { status: 'FAILED', error: nul }],
        'error',
      ],
    ];

    it.each(cases)('in %s is a 400 naming the field', async (_what, make, field) => {
      const [method, url, body] = make();
      const res = await t.http[method](url).send(body);
      expectErrorShape(res, 400);
      expect(res.body.message).toBe(`${field} must not contain NUL (\\u0000) characters`);
    });

    it('in an object key is a 400 naming the object', async () => {
      const res = await t.http
        .patch(`${API}/mcp-definitions/${mcpId}`)
        .send({ env: { [nul]: 'x' } });
      expectErrorShape(res, 400);
      expect(res.body.message).toBe('env has a key that contains NUL (\\u0000) characters');
    });

    it.each([
      [`${API}/action-logs?actorId=a%00b`, 'query parameter actorId'],
      [`${API}/mcp-definitions?name=fi%00`, 'query parameter name'],
      [`${API}/action-logs?tag=x&correlationId=%00`, 'query parameter correlationId'],
      [`${API}/mcp-definitions/a%00b`, 'path parameter id'],
      [`${API}/action-logs/entities/MCP_DEFINITION/1%00`, 'path parameter entityId'],
    ])('in %s is a 400 naming the parameter', async (url, field) => {
      const res = await t.http.get(url);
      expectErrorShape(res, 400);
      expect(res.body.message).toBe(`${field} must not contain NUL (\\u0000) characters`);
    });

    it('inside a cursor is a 400 (the cursor is not valid), not a 500', async () => {
      const keyset = ['2026-01-01T00:00:00.000Z\u0000', '00000000-0000-0000-0000-000000000000'];
      for (const [path, key] of [
        ['mcp-definitions', ['a\u0000b']],
        ['workflows', ['a\u0000b']],
        ['action-logs', ['2026-01-01T00:00:00.000000Z\u0000', '1']],
        [`mcp-definitions/${mcpId}/versions`, keyset],
        [`workflows/${workflowId}/runs`, keyset],
      ] as const) {
        const cursor = Buffer.from(JSON.stringify(key)).toString('base64url');
        const res = await t.http.get(`${API}/${path}?cursor=${cursor}`);
        expectErrorShape(res, 400);
        expect(res.body.message).toMatch(/cursor/);
      }
    });
  });

  it('stores unpaired UTF-16 surrogates as U+FFFD in every field, text and JSON alike', async () => {
    const updated = await t.http
      .patch(`${API}/mcp-definitions/${mcpId}`)
      .set('Content-Type', 'application/json')
      .send('{"description":"x\\ud800y"}')
      .expect(200);
    expect(updated.body.description).toBe('x\ufffdy');
    // A jsonb column: PostgreSQL refuses a lone surrogate escape in JSON text.
    const version = await t.http
      .post(`${API}/mcp-definitions/${mcpId}/versions`)
      .set('Content-Type', 'application/json')
      .send('{"version":"9.9.9","manifest":{"tools":["a\\udc00"],"k\\ud800":1}}')
      .expect(201);
    expect(version.body.manifest).toEqual({ tools: ['a\ufffd'], 'k\ufffd': 1 });
    const read = await t.http.get(`${API}/mcp-definitions/${mcpId}/versions/9.9.9`).expect(200);
    expect(read.body.manifest).toEqual({ tools: ['a\ufffd'], 'k\ufffd': 1 });
    // …and the audit trail records what was stored.
    const run = await t.http
      .post(`${API}/workflows/${workflowId}/runs`)
      .set('Content-Type', 'application/json')
      .send('{"parameters":{"p":"a\\udc00","k\\ud800":1}}')
      .expect(201);
    const { rows } = await t.db.query<{ details: { parameters: unknown } }>(
      `SELECT details FROM action_log WHERE entity_id = $1`,
      [run.body.id],
    );
    expect(rows[0].details.parameters).toEqual({ p: 'a\ufffd', 'k\ufffd': 1 });
    // Percent-encoded bytes that are not UTF-8 decode to U+FFFD in a query too.
    await t.http.get(`${API}/action-logs?actorId=%ED%A0%80`).expect(200);
  });

  describe('deep nesting', () => {
    const bodies: [string, () => [method: 'post' | 'patch', url: string, body: string]][] = [
      [
        'POST /mcp-definitions',
        () => ['post', `${API}/mcp-definitions`, `{"name":${deepArrays(1500)}}`],
      ],
      [
        'PATCH /mcp-definitions/:id',
        () => ['patch', `${API}/mcp-definitions/${mcpId}`, `{"args":${deepArrays(2000)}}`],
      ],
      [
        'POST /mcp-definitions/:id/versions',
        () => [
          'post',
          `${API}/mcp-definitions/${mcpId}/versions`,
          `{"version":"1.0.0","manifest":{"a":${deepArrays(3000)}}}`,
        ],
      ],
      [
        'POST /workflows',
        () => ['post', `${API}/workflows`, `{"name":"w","steps":${deepArrays(1500)}}`],
      ],
      [
        'PATCH /workflows/:id',
        () => ['patch', `${API}/workflows/${workflowId}`, `{"name":${deepArrays(1500)}}`],
      ],
      [
        'POST /workflows/:id/runs',
        () => [
          'post',
          `${API}/workflows/${workflowId}/runs`,
          `{"parameters":{"p":${deepArrays(3000)}}}`,
        ],
      ],
      [
        'PATCH /workflow-runs/:id/status',
        () => ['patch', `${API}/workflow-runs/${runId}/status`, `{"status":${deepArrays(1500)}}`],
      ],
    ];

    it.each(bodies)('in the body of %s is a 400, not a stack overflow', async (_name, make) => {
      const [method, url, body] = make();
      const res = await t.http[method](url).set('Content-Type', 'application/json').send(body);
      expectErrorShape(res, 400);
      expect(res.body.message).toMatch(/is nested too deeply \(at most 64 levels\)$/);
    });

    it('of 60 levels is still accepted', async () => {
      const nested = `{"parameters":{"p":${deepArrays(60)}}}`;
      await t.http
        .post(`${API}/workflows/${workflowId}/runs`)
        .set('Content-Type', 'application/json')
        .send(nested)
        .expect(201);
    });
  });

  describe('errors raised below Nest have the one shape and a request id', () => {
    let port: number;
    beforeAll(async () => {
      port = await startListening(t.app);
    });

    it('a malformed URL (bad percent-encoding) is a 400', async () => {
      const res = await t.http.get(`${API}/workflows/%ZZ/runs`).set('X-Request-ID', 'r-bad-url');
      expectErrorShape(res, 400);
      expect(res.body).toEqual({
        statusCode: 400,
        message: 'The URL is malformed (invalid percent-encoding)',
        error: 'Bad Request',
        requestId: 'r-bad-url',
      });
    });

    it('a path parameter over the length limit is a 414', async () => {
      const res = await t.http.get(`${API}/mcp-definitions/${'x'.repeat(101)}`);
      expectErrorShape(res, 414);
      expect(res.body.requestId).toMatch(UUID);
      expect(res.body.message).toBe('A path parameter is longer than 100 characters');
    });

    it.each([
      ['a header with a raw LF', `GET ${API}/health HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\n\r\n`, 400],
      ['a bad method', `G@T ${API}/health HTTP/1.1\r\nHost: x\r\n\r\n`, 400],
      [
        'headers over 16 KiB',
        `GET ${API}/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
        431,
      ],
    ])('%s is answered by the HTTP parser in the one shape', async (_what, raw, status) => {
      const res = await rawRequest(port, raw);
      expect(res.closed).toBe(true);
      expectErrorShape(res, status);
      expect(res.body.requestId).toMatch(UUID);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
    });
  });

  describe('actor', () => {
    it('records a caller without X-User-ID as `anonymous`', async () => {
      await t.truncate('action_log');
      await t.http
        .patch(`${API}/mcp-definitions/${mcpId}`)
        .send({ description: 'who' })
        .expect(200);
      const { rows } = await t.db.query<{ actor_id: string }>('SELECT actor_id FROM action_log');
      expect(rows.map((r) => r.actor_id)).toEqual(['anonymous']);
    });

    it('refuses X-User-ID: system (reserved for the engine and jobs) with 400', async () => {
      await t.truncate('action_log');
      const res = await t.http
        .patch(`${API}/mcp-definitions/${mcpId}`)
        .set('X-User-ID', 'system')
        .send({ description: 'impostor' });
      expectErrorShape(res, 400);
      expect(res.body.message).toMatch(/system.*reserved/);
      const { rows } = await t.db.query('SELECT 1 FROM action_log WHERE request_id = $1', [
        res.headers['x-request-id'],
      ]);
      expect(rows).toHaveLength(0);
    });
  });
});

describe('Hardening: slow clients (e2e)', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await createTestApp({ requestTimeoutMs: 500 });
    port = await startListening(t.app);
  });
  afterAll(() => t.close());

  it('closes a connection that drips its body, answering 408 in the one shape', async () => {
    const head =
      `POST ${API}/workflows HTTP/1.1\r\nHost: x\r\nX-Request-ID: r-slow\r\n` +
      'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{';
    // A byte every 100 ms for at most 20 s: the server must end it long before.
    const res = await rawRequest(port, head, { drip: ' ', everyMs: 100, maxMs: 20_000 });
    expect(res.closed).toBe(true);
    expect(res.gaveUp).toBe(false);
    if (res.status !== 0) {
      expectErrorShape(res, 408);
      expect(res.body.requestId).toBe('r-slow');
    }
  });

  it('closes a connection that drips its headers', async () => {
    const res = await rawRequest(port, `GET ${API}/health HTTP/1.1\r\n`, {
      drip: 'X',
      everyMs: 100,
      maxMs: 20_000,
    });
    expect(res.closed).toBe(true);
    expect(res.gaveUp).toBe(false);
    if (res.status !== 0) expectErrorShape(res, 408);
  });

  it('closes a connection that never sends a byte', async () => {
    const res = await rawRequest(port, '', { maxMs: 20_000 });
    expect(res.closed).toBe(true);
    expect(res.gaveUp).toBe(false);
  });

  it('still serves a normal request', async () => {
    await t.http.get(`${API}/health`).expect(200);
  });
});
