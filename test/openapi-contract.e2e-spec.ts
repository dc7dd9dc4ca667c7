import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { Response } from 'supertest';
import { buildOpenApiDocument, serializeOpenApi } from '@/bootstrap';
import request from 'supertest';
import { checkedAgent, Contract, outsideContract } from './helpers/contract';
import { createTestApp, type TestApp } from './helpers/test-app';

const API = '/api/v1';
interface Schema {
  type?: string;
  format?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  [rule: string]: unknown;
}

interface Operation {
  operationId?: string;
  requestBody?: unknown;
  responses: Record<string, { headers?: Record<string, unknown> }>;
}

const COMMITTED = join(__dirname, '..', 'openapi.json');

/**
 * The document is the contract a client is generated from: the committed openapi.json is the
 * live one, and every operation's answers (success and the main errors) are what it declares.
 */
describe('OpenAPI contract (e2e)', () => {
  let t: TestApp;
  let doc: OpenAPIObject;
  let contract: Contract;

  beforeAll(async () => {
    t = await createTestApp({ bodyLimit: 64 * 1024 });
    doc = buildOpenApiDocument(t.app);
    contract = new Contract(doc);
  });
  afterAll(() => t.close());

  /** Sends, then holds the answer to the document; returns it for further assertions. */
  async function call(res: Promise<Response> | Response, status: number): Promise<Response> {
    const answer = (await res) as Response & { req: { method: string; path: string } };
    expect({ path: answer.req.path, status: answer.status }).toEqual({
      path: answer.req.path,
      status,
    });
    contract.expect(answer);
    return answer;
  }

  it('is committed up to date (else: run `npm run openapi` and commit openapi.json)', () => {
    const committed = readFileSync(COMMITTED, 'utf8');
    if (committed !== serializeOpenApi(doc)) {
      throw new Error('openapi.json is stale: run npm run openapi and commit it');
    }
  });

  it('names every operation, declares 400 everywhere, 503 where a database is touched, 413 on bodies', () => {
    expect(doc.servers).toEqual([{ url: '/', description: 'This server' }]);
    const ids: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
        const where = `${method} ${path}`;
        expect({ where, operationId: typeof op.operationId }).toEqual({
          where,
          operationId: 'string',
        });
        expect(op.operationId).toMatch(/^[a-z][A-Za-z]+$/);
        ids.push(String(op.operationId));
        const codes = Object.keys(op.responses);
        expect({ where, codes }).toEqual({ where, codes: expect.arrayContaining(['400']) });
        // The two routes that never touch the database.
        if (path !== `${API}/health` && path !== `${API}/action-logs/public-key`) {
          expect({ where, codes }).toEqual({ where, codes: expect.arrayContaining(['503']) });
        }
        if (op.requestBody) {
          expect({ where, codes }).toEqual({ where, codes: expect.arrayContaining(['413']) });
        }
        for (const [code, response] of Object.entries(op.responses)) {
          expect({ where, code, headers: Object.keys(response.headers ?? {}) }).toEqual({
            where,
            code,
            headers: expect.arrayContaining(['X-Request-ID', 'X-Correlation-ID']),
          });
        }
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    const limited = doc.paths[`${API}/workflows`].get!.responses as Record<
      string,
      { headers?: Record<string, unknown> }
    >;
    expect(Object.keys(limited['200'].headers ?? {})).toEqual(
      expect.arrayContaining(['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']),
    );
    expect(Object.keys(limited['429'].headers ?? {})).toContain('Retry-After');
    expect(Object.keys(limited['503'].headers ?? {})).toContain('Retry-After');
    const error = doc.components?.schemas?.ErrorResponseDto as {
      properties: Record<string, { oneOf?: unknown }>;
    };
    expect(error.properties.message.oneOf).toEqual([
      { type: 'string' },
      { type: 'array', items: { type: 'string' } },
    ]);
  });

  it('carries the validation rules: formats, integers, lists of values, optional defaults', () => {
    const schemas = doc.components?.schemas as Record<string, Schema>;
    const prop = (schema: string, name: string) => schemas[schema].properties![name];
    const param = (path: string, name: string) =>
      (
        doc.paths[`${API}${path}`].get!.parameters as unknown as { name: string; schema: Schema }[]
      ).find((p) => p.name === name)!.schema;
    // A field the server fills in when left out is optional, with no `default` a generator
    // would turn into a required field (and a PATCH without it keeps the stored value).
    for (const [schema, field] of [
      ['CreateMcpDefinitionDto', 'description'],
      ['CreateMcpDefinitionDto', 'tags'],
      ['UpdateMcpDefinitionDto', 'description'],
      ['CreateMcpVersionDto', 'changelog'],
      ['CreateWorkflowDto', 'description'],
      ['UpdateWorkflowDto', 'description'],
      ['StartRunDto', 'parameters'],
    ]) {
      expect({ schema, field, default: prop(schema, field).default }).toEqual({
        schema,
        field,
        default: undefined,
      });
      expect(schemas[schema].required ?? []).not.toContain(field);
    }
    expect(prop('CreateMcpDefinitionDto', 'name')).toMatchObject({ maxLength: 100 });
    expect(prop('CreateMcpDefinitionDto', 'name').pattern).toBeDefined();
    expect(prop('CreateMcpDefinitionDto', 'tags')).toMatchObject({ maxItems: 20 });
    expect(prop('CreateWorkflowDto', 'steps')).toMatchObject({ minItems: 1, maxItems: 100 });
    expect(prop('ActionLogEntryDto', 'timestamp')).toMatchObject({ format: 'date-time' });
    expect(param('/action-logs', 'limit')).toMatchObject({ type: 'integer', maximum: 200 });
    expect(param('/action-logs', 'from')).toMatchObject({ format: 'date-time' });
    expect(param('/action-logs', 'actionType').enum).toEqual([
      'CREATE',
      'READ',
      'UPDATE',
      'DELETE',
      'EXECUTE',
    ]);
    expect(param('/action-logs', 'outcome').enum).toEqual(['SUCCESS', 'FAILURE', 'DENIED']);
    expect(param('/action-logs', 'entityType').enum).toEqual(
      expect.arrayContaining([
        'MCP_DEFINITION',
        'MCP_VERSION',
        'WORKFLOW_DEFINITION',
        'WORKFLOW_RUN',
      ]),
    );
    expect(param('/mcp-definitions', 'transport').enum).toEqual([
      'stdio',
      'sse',
      'streamable-http',
    ]);
    expect(param('/workflows/{id}/runs', 'status').enum).toHaveLength(5);
    expect(param('/workflow-runs/{id}', 'id')).toMatchObject({ format: 'uuid' });
    expect(param('/mcp-definitions/{id}/versions/{version}', 'version')).toMatchObject({
      type: 'string',
      maxLength: 100,
      pattern: expect.stringContaining('(0|[1-9]\\d*)'),
    });
    expect(param('/action-logs/entities/{entityType}/{entityId}', 'entityId')).toMatchObject({
      type: 'string',
      minLength: 1,
      maxLength: 100,
    });
    // The id headers are declared once and referenced by every response.
    expect(Object.keys(doc.components?.headers ?? {})).toEqual(
      expect.arrayContaining(['X-Request-ID', 'X-Correlation-ID', 'Retry-After']),
    );
    const ok = doc.paths[`${API}/workflows`].get!.responses['200'] as { headers: object };
    expect(ok.headers).toMatchObject({
      'X-Request-ID': { $ref: '#/components/headers/X-Request-ID' },
    });
  });

  it('fails any request through the test agent whose answer breaks the document, naming the operation', async () => {
    // A document that promises what the server does not send: a required field, no 404.
    const doctored = JSON.parse(JSON.stringify(doc)) as OpenAPIObject;
    const list = doctored.paths[`${API}/mcp-definitions`].get!;
    (list.responses['200'] as { content: object }).content = {
      'application/json': {
        schema: { type: 'object', required: ['total'], properties: { total: { type: 'integer' } } },
      },
    };
    delete (
      doctored.paths[`${API}/mcp-definitions/{id}`].get!.responses as Record<string, unknown>
    )['404'];
    const agent = checkedAgent(request.agent(t.app.getHttpServer()), () => doctored);
    await expect(agent.get(`${API}/mcp-definitions`).expect(200)).rejects.toThrow(
      /listMcpDefinitions \(GET \/api\/v1\/mcp-definitions\) 200: body must have required property 'total'/,
    );
    await expect(agent.get(`${API}/mcp-definitions`)).rejects.toThrow(
      /breaks the OpenAPI document/,
    );
    await expect(
      agent.get(`${API}/mcp-definitions/00000000-0000-4000-8000-000000000000`),
    ).rejects.toThrow(/getMcpDefinition \(GET .*\) answered 404, which it does not declare/);
    // The test's own expectation is reported first when it fails.
    await expect(agent.get(`${API}/mcp-definitions`).expect(201)).rejects.toThrow(
      /expected 201 "Created", got 200 "OK"/,
    );
    await outsideContract(agent.get(`${API}/mcp-definitions`)).expect(200);
  });

  it('the start-run body is optional', () => {
    const op = doc.paths[`${API}/workflows/{id}/runs`].post!;
    expect((op.requestBody as { required?: boolean }).required).toBe(false);
  });

  it('answers every operation as documented: successes and the main errors', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    // MCP definitions and versions
    const def = await call(
      t.http
        .post(`${API}/mcp-definitions`)
        .send({ name: 'fs', transport: 'stdio', command: 'npx', env: { TOKEN: 'x' } }),
      201,
    );
    const id = def.body.id as string;
    await call(
      t.http.post(`${API}/mcp-definitions`).send({ name: 'fs', transport: 'stdio', command: 'x' }),
      409,
    );
    await call(t.http.post(`${API}/mcp-definitions`).send({ name: 'Bad Name' }), 400);
    await call(
      t.http
        .post(`${API}/mcp-definitions`)
        .send({ name: 'big', transport: 'stdio', command: 'x'.repeat(70_000) }),
      413,
    );
    await call(
      t.http.post(`${API}/mcp-definitions`).set('X-User-Roles', 'viewer').send({ name: 'v' }),
      403,
    );
    await call(t.http.get(`${API}/mcp-definitions?limit=2`), 200);
    await call(t.http.get(`${API}/mcp-definitions?limit=0`), 400);
    await call(t.http.get(`${API}/mcp-definitions/${id}`), 200);
    await call(t.http.get(`${API}/mcp-definitions/${missing}`), 404);
    await call(t.http.get(`${API}/mcp-definitions/not-a-uuid`), 400);
    await call(t.http.patch(`${API}/mcp-definitions/${id}`).send({ tags: ['a'] }), 200);
    await call(t.http.patch(`${API}/mcp-definitions/${missing}`).send({ tags: ['a'] }), 404);
    await call(
      t.http.post(`${API}/mcp-definitions/${id}/versions`).send({ version: '1.0.0', manifest: {} }),
      201,
    );
    await call(
      t.http.post(`${API}/mcp-definitions/${id}/versions`).send({ version: '1.0.0', manifest: {} }),
      409,
    );
    await call(t.http.get(`${API}/mcp-definitions/${id}/versions`), 200);
    await call(t.http.get(`${API}/mcp-definitions/${id}/versions/1.0.0`), 200);
    await call(t.http.get(`${API}/mcp-definitions/${id}/versions/9.9.9`), 404);
    await call(t.http.get(`${API}/mcp-definitions/${id}/versions/latest`), 400);
    await call(t.http.get(`${API}/mcp-definitions/${'a'.repeat(101)}`), 414);
    const servers = { remote: { type: 'http', url: 'http://127.0.0.1:1/mcp' } };
    await call(t.http.post(`${API}/mcp-definitions/import`).send({ mcpServers: servers }), 201);
    await call(t.http.post(`${API}/mcp-definitions/import`).send({ mcpServers: servers }), 409);
    await call(t.http.post(`${API}/mcp-definitions/import`).send({ mcpServers: { x: 1 } }), 400);
    await call(
      t.http
        .post(`${API}/mcp-definitions/import`)
        .set('X-User-Roles', 'editor')
        .send({ mcpServers: { local: { command: 'npx' } } }),
      403,
    );
    await call(t.http.get(`${API}/mcp-definitions/export?includeSecrets=true`), 200);
    await call(
      t.http.get(`${API}/mcp-definitions/export?includeSecrets=true`).set('X-User-Roles', 'viewer'),
      403,
    );

    // Workflows and runs
    const wf = await call(
      t.http.post(`${API}/workflows`).send({
        name: 'nightly',
        steps: [{ name: 's', mcpDefinitionId: id, tool: 'read', input: {} }],
      }),
      201,
    );
    const wfId = wf.body.id as string;
    await call(t.http.get(`${API}/workflows`), 200);
    await call(t.http.get(`${API}/workflows/${wfId}`), 200);
    await call(t.http.get(`${API}/workflows/${missing}`), 404);
    await call(t.http.patch(`${API}/workflows/${wfId}`).send({ description: 'd' }), 200);
    const run = await call(t.http.post(`${API}/workflows/${wfId}/runs`), 201);
    await call(t.http.post(`${API}/workflows/${missing}/runs`).send({}), 404);
    await call(t.http.get(`${API}/workflows/${wfId}/runs?status=PENDING`), 200);
    await call(t.http.get(`${API}/workflow-runs/${run.body.id}`), 200);
    await call(t.http.get(`${API}/workflow-runs/${missing}`), 404);
    await call(
      t.http.patch(`${API}/workflow-runs/${run.body.id}/status`).send({ status: 'RUNNING' }),
      200,
    );
    await call(
      t.http.patch(`${API}/workflow-runs/${run.body.id}/status`).send({ status: 'PENDING' }),
      409,
    );
    await call(
      t.http.patch(`${API}/workflow-runs/${run.body.id}/status`).send({ status: 'NOPE' }),
      400,
    );
    await call(t.http.post(`${API}/workflow-runs/${run.body.id}/cancel`), 200);
    await call(t.http.post(`${API}/workflow-runs/${run.body.id}/cancel`), 409);
    await call(t.http.delete(`${API}/workflows/${wfId}`), 409);

    // The action log
    await t.flushAudit();
    const page = await call(t.http.get(`${API}/action-logs?limit=5`), 200);
    await call(t.http.get(`${API}/action-logs?limit=abc`), 400);
    await call(t.http.get(`${API}/action-logs/entities/MCP_DEFINITION/${id}`), 200);
    await call(t.http.get(`${API}/action-logs/entities/MCP_DEFINITION/${'x'.repeat(101)}`), 414);
    await call(t.http.get(`${API}/action-logs/${page.body.items[0].id}`), 200);
    await call(t.http.get(`${API}/action-logs/999999`), 404);
    await call(t.http.get(`${API}/action-logs/abc`), 400);

    // Health, and deleting
    await call(t.http.get(`${API}/health`), 200);
    await call(t.http.get(`${API}/health/audit`).set('X-User-ID', 'system'), 400);
    await call(t.http.get(`${API}/health/audit`), 200);
    await call(t.http.delete(`${API}/mcp-definitions/${missing}`), 404);
  });
});

describe('OpenAPI contract: rate limiting (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_SECONDS: '60' } });
  });
  afterAll(() => t.close());

  it('answers 429 as documented, with the headers the document declares for it', async () => {
    const doc = buildOpenApiDocument(t.app);
    const get = () => t.http.get(`${API}/mcp-definitions`).set('X-User-ID', 'burst');
    await get().expect(200);
    await get().expect(200);
    // The agent holds the answer to the document (status declared, body in the error shape).
    const res = await get().expect(429);
    const declared = Object.keys(
      (doc.paths[`${API}/mcp-definitions`].get!.responses['429'] as { headers: object }).headers,
    );
    expect(declared.sort()).toEqual(
      [
        'Retry-After',
        'X-Correlation-ID',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'X-RateLimit-Reset',
        'X-Request-ID',
      ].sort(),
    );
    expect(declared.filter((h) => res.headers[h.toLowerCase()] === undefined)).toEqual([]);
    expect(new Contract(doc).problems('GET', `${API}/mcp-definitions`, res)).toEqual([]);
  });
});
