import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiClient, definitionLifecycle, runLifecycle } from './client/readme-examples';
import { createTestApp, type TestApp } from './helpers/test-app';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const BIN = join(ROOT, 'node_modules', '.bin');

/**
 * A client generated from the committed openapi.json compiles unedited under `tsc --strict`
 * and does what the README says, against the real app.
 */
describe('Typed client generated from openapi.json (e2e)', () => {
  let t: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(() => t.close());

  it('test/client/api.d.ts is what openapi-typescript makes of openapi.json (else: npm run openapi)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'client-'));
    try {
      const out = join(dir, 'api.d.ts');
      await run(join(BIN, 'openapi-typescript'), [join(ROOT, 'openapi.json'), '-o', out]);
      const committed = await readFile(join(ROOT, 'test', 'client', 'api.d.ts'), 'utf8');
      if ((await readFile(out, 'utf8')) !== committed) {
        throw new Error('test/client/api.d.ts is stale: run npm run openapi and commit it');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('compiles with tsc --strict, on its own', async () => {
    await run(join(BIN, 'tsc'), [
      '--ignoreConfig',
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      join(ROOT, 'test', 'client', 'readme-examples.ts'),
    ]);
  });

  it("runs the README's MCP definition example", async () => {
    const api = apiClient(baseUrl, { 'X-User-ID': 'alice' });
    const result = await definitionLifecycle(api);
    await t.flushAudit();
    const history = await apiClient(baseUrl).GET(
      '/api/v1/action-logs/entities/{entityType}/{entityId}',
      { params: { path: { entityType: 'MCP_DEFINITION', entityId: result.id } } },
    );
    expect(result).toMatchObject({
      env: { TOKEN: '[REDACTED]' },
      listed: ['filesystem'],
      description: 'Local files',
      version: '1.0.0',
      notFound: { status: 404, message: expect.stringContaining('not found') as string },
    });
    expect(history.data?.items.map((e) => [e.actionType, e.actorId])).toEqual([
      ['UPDATE', 'alice'],
      ['CREATE', 'alice'],
    ]);
  });

  it("runs the README's workflow run example (the start-run body is optional)", async () => {
    const api = apiClient(baseUrl, { 'X-User-ID': 'alice' });
    const def = await api.POST('/api/v1/mcp-definitions', {
      body: { name: 'runner', transport: 'stdio', command: 'node' },
    });
    expect(await runLifecycle(api, def.data!.id)).toEqual({
      statuses: ['PENDING', 'RUNNING', 'CANCELLED'],
      conflict: 409,
    });
  });
});
