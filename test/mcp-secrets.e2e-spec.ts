import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import {
  McpDefinitionsService,
  SecretsBox,
  SecretUnreadableError,
} from '@/modules/mcp-definitions';
import { Sealed } from '@/modules/mcp-definitions/secrets/secrets-box';
import { parseSecretsKey } from '@/modules/mcp-definitions/secrets/secrets-key';
import { resealDefinitions, SecretsSealer } from '@/modules/mcp-definitions/secrets/secrets-sealer';
import { createTestApp, type TestApp } from './helpers/test-app';

const ENV_SECRET = 'env-SECRET-a1b2c3';
const HEADER_SECRET = 'hdr-SECRET-d4e5f6';
const ROTATED = 'env-SECRET-rotated-778899';

const remote = {
  name: 'remote',
  transport: 'streamable-http',
  url: 'https://mcp.example.com/mcp',
  env: { API_TOKEN: ENV_SECRET, REGION: 'eu-west-1-region-value' },
  headers: { Authorization: `Bearer ${HEADER_SECRET}`, 'X-Tenant': 'tenant-value-42' },
};
const PLAINTEXTS = [
  ENV_SECRET,
  HEADER_SECRET,
  ROTATED,
  'eu-west-1-region-value',
  'tenant-value-42',
];

const DIST = join(__dirname, '..', 'dist', 'src');

/** Runs a built entry point as a child process; resolves with its exit code and output. */
function runNode(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('MCP secrets (e2e)', () => {
  let t: TestApp;
  const logLines: string[] = [];

  beforeAll(async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: 'trace' },
      logStream: { write: (line: string) => void logLines.push(line) },
    });
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox', 'mcp_versions', 'mcp_definitions'));
  afterAll(() => t.close());

  const box = () => t.app.get(SecretsBox);
  const service = () => t.app.get(McpDefinitionsService);

  async function row(
    id: string,
  ): Promise<{ env: Record<string, unknown>; headers: Record<string, unknown> }> {
    const { rows } = await t.db.query(`SELECT env, headers FROM mcp_definitions WHERE id = $1`, [
      id,
    ]);
    return rows[0];
  }

  async function updates(id: string): Promise<unknown[]> {
    const { rows } = await t.db.query(
      `SELECT details FROM action_log WHERE action_type = 'UPDATE' AND entity_id = $1 ORDER BY "timestamp", id`,
      [id],
    );
    return rows.map((r: { details: unknown }) => r.details);
  }

  it('keeps every secret value out of the database row, the responses, the logs and the audit trail', async () => {
    logLines.length = 0;
    const bodies: unknown[] = [];
    const created = await t.http
      .post('/api/v1/mcp-definitions')
      .set('X-User-ID', 'alice')
      .send(remote)
      .expect(201);
    bodies.push(created.body);
    const id: string = created.body.id;
    expect(created.body.env).toEqual({ API_TOKEN: '[REDACTED]', REGION: '[REDACTED]' });
    expect(created.body.headers).toEqual({ Authorization: '[REDACTED]', 'X-Tenant': '[REDACTED]' });
    bodies.push((await t.http.get(`/api/v1/mcp-definitions/${id}`).expect(200)).body);
    bodies.push((await t.http.get('/api/v1/mcp-definitions').expect(200)).body);
    bodies.push(
      (
        await t.http
          .patch(`/api/v1/mcp-definitions/${id}`)
          .send({ env: { API_TOKEN: ROTATED }, headers: { 'X-Tenant': null } })
          .expect(200)
      ).body,
    );
    bodies.push(
      (
        await t.http
          .post(`/api/v1/mcp-definitions/${id}/versions`)
          .send({ version: '1.0.0', manifest: { tools: [] } })
          .expect(201)
      ).body,
    );
    bodies.push((await t.http.get(`/api/v1/mcp-definitions/${id}/versions`).expect(200)).body);
    bodies.push((await t.http.get(`/api/v1/action-logs?entityId=${id}`).expect(200)).body);

    // The row holds envelopes (AES-256-GCM under the configured key), never the plain text.
    const stored = await row(id);
    expect(stored.env.API_TOKEN).toEqual({
      v: 1,
      kid: box().kid,
      iv: expect.any(String),
      tag: expect.any(String),
      ct: expect.any(String),
    });
    const { rows } = await t.db.query(`SELECT mcp_definitions::text AS all FROM mcp_definitions`);
    const { rows: log } = await t.db.query(
      `SELECT string_agg(action_log::text, ' ') AS all FROM action_log`,
    );
    const haystacks = {
      row: rows.map((r: { all: string }) => r.all).join(' '),
      responses: JSON.stringify(bodies),
      logs: logLines.join(''),
      actionLog: String(log[0].all),
    };
    expect(haystacks.logs.length).toBeGreaterThan(0); // trace-level request logs were captured
    for (const [where, text] of Object.entries(haystacks))
      for (const secret of PLAINTEXTS)
        expect({ where, leaked: text.includes(secret) }).toEqual({ where, leaked: false });

    // The trail names the secrets (values redacted): CREATE's details, then DELETE's snapshot.
    await t.http.delete(`/api/v1/mcp-definitions/${id}`).expect(204);
    const { rows: named } = await t.db.query(
      `SELECT action_type, details FROM action_log WHERE entity_type = 'MCP_DEFINITION' AND action_type IN ('CREATE', 'DELETE') ORDER BY id`,
    );
    expect(named.map((r: { details: object }) => r.details)).toEqual([
      expect.objectContaining({
        env: { API_TOKEN: '[REDACTED]', REGION: '[REDACTED]' },
        headers: { Authorization: '[REDACTED]', 'X-Tenant': '[REDACTED]' },
      }),
      expect.objectContaining({
        env: { API_TOKEN: '[REDACTED]', REGION: '[REDACTED]' },
        headers: { Authorization: '[REDACTED]' },
      }),
    ]);
    const { rows: all } = await t.db.query(
      `SELECT string_agg(action_log::text, ' ') AS all FROM action_log`,
    );
    for (const secret of PLAINTEXTS) expect(String(all[0].all)).not.toContain(secret);
  });

  it('gives the plain text to the code that starts the server (resolveSecrets)', async () => {
    const { body } = await t.http.post('/api/v1/mcp-definitions').send(remote).expect(201);
    await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ env: { API_TOKEN: ROTATED }, headers: { 'X-Tenant': null } })
      .expect(200);
    const id: string = body.id;
    await expect(service().resolveSecrets(id)).resolves.toEqual({
      env: { API_TOKEN: ROTATED, REGION: 'eu-west-1-region-value' },
      headers: { Authorization: `Bearer ${HEADER_SECRET}` },
    });
  });

  it('PATCH sets, replaces, keeps and removes (null) names; the diff names the changed ones only', async () => {
    const { body } = await t.http
      .post('/api/v1/mcp-definitions')
      .send({ ...remote, env: { KEEP: 'k', SAME: 's', CHANGE: 'old', DROP: 'd' } })
      .expect(201);
    const before = await row(body.id);
    const res = await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ env: { SAME: 's', CHANGE: 'new', DROP: null, ADD: 'a', NEVER_THERE: null } })
      .expect(200);
    expect(res.body.env).toEqual({
      ADD: '[REDACTED]',
      CHANGE: '[REDACTED]',
      KEEP: '[REDACTED]',
      SAME: '[REDACTED]',
    });
    expect((await service().resolveSecrets(body.id)).env).toEqual({
      KEEP: 'k',
      SAME: 's',
      CHANGE: 'new',
      ADD: 'a',
    });
    const after = await row(body.id);
    expect(after.env.KEEP).toEqual(before.env.KEEP); // kept as stored
    expect(after.env.SAME).toEqual(before.env.SAME); // sent again unchanged: kept as stored

    // Headers: replace one; resend the same env value (no change at all).
    await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ headers: { Authorization: 'Bearer other' }, env: { KEEP: 'k' } })
      .expect(200);
    await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ env: { SAME: 's' } })
      .expect(200);

    expect(await updates(body.id)).toEqual([
      {
        changes: {
          env: {
            from: { CHANGE: '[REDACTED]', DROP: '[REDACTED]' },
            to: { ADD: '[REDACTED]', CHANGE: '[REDACTED]' },
          },
        },
      },
      {
        changes: {
          headers: { from: { Authorization: '[REDACTED]' }, to: { Authorization: '[REDACTED]' } },
        },
      },
      { changes: {} },
    ]);
  });

  it('validates headers: HTTP transports only, header names, no control characters, no case duplicates', async () => {
    const stdio = { name: 'local', transport: 'stdio', command: 'npx' };
    const bad: [string, object][] = [
      ['headers on stdio', { ...stdio, headers: { 'X-A': 'x' } }],
      ['bad header name', { ...remote, headers: { 'Bad Header': 'x' } }],
      ['CRLF in a value', { ...remote, headers: { 'X-A': 'x\r\nInjected: 1' } }],
      ['names differing in case', { ...remote, headers: { 'X-A': '1', 'x-a': '2' } }],
      ['header value not a string', { ...remote, headers: { 'X-A': 1 } }],
      ['null value on create', { ...remote, env: { A: null } }],
    ];
    for (const [rule, body] of bad) {
      const res = await t.http.post('/api/v1/mcp-definitions').send(body);
      expect({ rule, status: res.status, error: res.body.error }).toEqual({
        rule,
        status: 400,
        error: 'Bad Request',
      });
    }
    const { body } = await t.http.post('/api/v1/mcp-definitions').send(remote).expect(201);
    const badPatches: [string, object][] = [
      ['a name differing only in case from a stored one', { headers: { authorization: 'x' } }],
      [
        'headers while switching to stdio',
        { transport: 'stdio', command: 'npx', headers: { 'X-A': 'x' } },
      ],
      ['headers as null', { headers: null }],
    ];
    for (const [rule, patch] of badPatches) {
      const res = await t.http.patch(`/api/v1/mcp-definitions/${body.id}`).send(patch);
      expect({ rule, status: res.status }).toEqual({ rule, status: 400 });
    }
    // Switching to stdio drops the headers (like url); the diff names them.
    const res = await t.http
      .patch(`/api/v1/mcp-definitions/${body.id}`)
      .send({ transport: 'stdio', command: 'npx' })
      .expect(200);
    expect(res.body).toMatchObject({ transport: 'stdio', url: null, headers: {} });
    const [last] = (await updates(body.id)).slice(-1) as { changes: Record<string, unknown> }[];
    expect(last.changes.headers).toEqual({
      from: { Authorization: '[REDACTED]', 'X-Tenant': '[REDACTED]' },
      to: {},
    });
  });

  it('does not open a ciphertext copied to another definition', async () => {
    const a = await t.http.post('/api/v1/mcp-definitions').send(remote).expect(201);
    const b = await t.http
      .post('/api/v1/mcp-definitions')
      .send({ ...remote, name: 'other', env: { API_TOKEN: 'b-value' } })
      .expect(201);
    await t.db.query(
      `UPDATE mcp_definitions SET env = (SELECT env FROM mcp_definitions WHERE id = $1) WHERE id = $2`,
      [a.body.id, b.body.id],
    );
    const failure = service().resolveSecrets(b.body.id);
    await expect(failure).rejects.toThrow(SecretUnreadableError);
    await expect(service().resolveSecrets(b.body.id)).rejects.toThrow(
      new RegExp(
        `^Cannot open env\\.(API_TOKEN|REGION) of MCP definition ${b.body.id} with key ${box().kid}: ` +
          'it was sealed for another definition or name, or altered$',
      ),
    );
    // The same value under another name of its own definition does not open either.
    await t.db.query(
      `UPDATE mcp_definitions SET env = jsonb_build_object('REGION', env->'API_TOKEN', 'API_TOKEN', env->'API_TOKEN') WHERE id = $1`,
      [a.body.id],
    );
    await expect(service().resolveSecrets(a.body.id)).rejects.toThrow(
      /env\.REGION .* sealed for another definition or name/,
    );
  });

  it('seals plain-text rows written before secrets were sealed, once (start-up step)', async () => {
    const id = randomUUID();
    await t.db.query(
      `INSERT INTO mcp_definitions (id, name, transport, url, env, headers)
       VALUES ($1, 'legacy', 'sse', 'https://legacy.example.com/sse', $2, $3)`,
      [
        id,
        JSON.stringify({ API_TOKEN: ENV_SECRET }),
        JSON.stringify({ Authorization: HEADER_SECRET }),
      ],
    );
    // Even before sealing, the API shows no plain text.
    const early = await t.http.get(`/api/v1/mcp-definitions/${id}`).expect(200);
    expect(JSON.stringify(early.body)).not.toContain(ENV_SECRET);
    expect(early.body.env).toEqual({ API_TOKEN: '[REDACTED]' });

    const sealer = t.app.get(SecretsSealer);
    await expect(sealer.sealPlaintext()).resolves.toEqual({ definitions: 1, values: 2 });
    const stored = await row(id);
    expect(JSON.stringify(stored)).not.toContain('SECRET');
    expect(stored.env.API_TOKEN).toMatchObject({ v: 1, kid: box().kid });
    expect(stored.headers.Authorization).toMatchObject({ v: 1, kid: box().kid });
    await expect(service().resolveSecrets(id)).resolves.toEqual({
      env: { API_TOKEN: ENV_SECRET },
      headers: { Authorization: HEADER_SECRET },
    });
    await expect(sealer.sealPlaintext()).resolves.toEqual({ definitions: 0, values: 0 }); // idempotent
    expect(await row(id)).toEqual(stored);
  });

  it('seals plain-text rows when the service starts, and refuses to start with another key', async () => {
    const id = randomUUID();
    await t.db.query(
      `INSERT INTO mcp_definitions (id, name, transport, command, env) VALUES ($1, 'legacy', 'stdio', 'x', $2)`,
      [id, JSON.stringify({ API_TOKEN: ENV_SECRET })],
    );
    const second = await createTestApp({ databaseUrl: t.databaseUrl });
    await second.close();
    expect((await row(id)).env.API_TOKEN).toMatchObject({ v: 1, kid: box().kid });

    const otherKey = randomBytes(32).toString('base64');
    const otherKid = new SecretsBox(Buffer.from(otherKey, 'base64')).kid;
    await expect(
      createTestApp({ databaseUrl: t.databaseUrl, env: { MCP_SECRETS_KEY: otherKey } }),
    ).rejects.toThrow(
      `MCP secrets in the database are sealed with key ${box().kid}, but the configured key (MCP_SECRETS_KEY) is ${otherKid}`,
    );
    await expect(service().resolveSecrets(id)).resolves.toEqual({
      env: { API_TOKEN: ENV_SECRET },
      headers: {},
    });
  });

  it('rotates keys: every value re-encrypted in one transaction, the new key opens them, the old does not', async () => {
    const a = await t.http.post('/api/v1/mcp-definitions').send(remote).expect(201);
    const b = await t.http
      .post('/api/v1/mcp-definitions')
      .send({ name: 'local', transport: 'stdio', command: 'npx', env: { ONLY: 'only-value' } })
      .expect(201);
    const old = box();
    const next = new SecretsBox(randomBytes(32), 'test');
    const dataSource = t.app.get(DataSource);
    await expect(dataSource.transaction((m) => resealDefinitions(m, next, old))).resolves.toEqual({
      definitions: 2,
      values: 5,
    });
    const stored = await row(a.body.id);
    expect(stored.env.API_TOKEN).toMatchObject({ kid: next.kid });
    const sealed = (
      await dataSource.query(`SELECT env FROM mcp_definitions WHERE id = $1`, [b.body.id])
    )[0].env;
    const slot = { definitionId: b.body.id as string, field: 'env' as const, name: 'ONLY' };
    expect(next.open(Sealed.fromStored(sealed.ONLY), slot)).toBe('only-value');
    expect(() => old.open(Sealed.fromStored(sealed.ONLY), slot)).toThrow(
      `sealed with key ${next.kid}, but the configured key (MCP_SECRETS_KEY) is ${old.kid}`,
    );
    // Again: nothing left to do. With a third, unknown key: refused, nothing changed.
    await expect(dataSource.transaction((m) => resealDefinitions(m, next, old))).resolves.toEqual({
      definitions: 0,
      values: 0,
    });
    const third = new SecretsBox(randomBytes(32), 'test');
    await expect(dataSource.transaction((m) => resealDefinitions(m, third, old))).rejects.toThrow(
      /sealed with key .*, which is neither the old key/,
    );
    expect(await row(a.body.id)).toEqual(stored);
    // Back to the app's key, so the other tests' boots agree with the rows.
    await dataSource.transaction((m) => resealDefinitions(m, old, next));
  });

  it('npm run secrets:rotate re-encrypts and replaces the local key file', async () => {
    const { body } = await t.http.post('/api/v1/mcp-definitions').send(remote).expect(201);
    const dir = await mkdtemp(join(tmpdir(), 'mcp-rotate-'));
    try {
      const keyFile = join(dir, 'mcp-secrets.key');
      await writeFile(keyFile, `${process.env.MCP_SECRETS_KEY}\n`, { mode: 0o600 });
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        NODE_ENV: 'development',
        DATABASE_URL: t.databaseUrl,
        EMBEDDED_PG_DATA_DIR: join(dir, 'postgres'),
      };
      delete env.MCP_SECRETS_KEY;
      const run = await runNode(
        join(DIST, 'modules', 'mcp-definitions', 'secrets', 'rotate-cli.js'),
        env,
      );
      expect(run).toMatchObject({ code: 0 });
      const newBox = new SecretsBox(parseSecretsKey(await readFile(keyFile, 'utf8'), keyFile));
      expect(run.out).toContain(`key ${box().kid} → ${newBox.kid}`);
      expect(run.out).not.toContain(HEADER_SECRET);
      const stored = await row(body.id);
      expect(
        newBox.open(Sealed.fromStored(stored.headers.Authorization), {
          definitionId: body.id as string,
          field: 'headers',
          name: 'Authorization',
        }),
      ).toBe(`Bearer ${HEADER_SECRET}`);
      // Back to the app's key.
      await t.app.get(DataSource).transaction((m) => resealDefinitions(m, box(), newBox));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start in production without MCP_SECRETS_KEY, naming the variable', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: t.databaseUrl,
    };
    delete env.MCP_SECRETS_KEY;
    const run = await runNode(join(DIST, 'main.js'), env);
    expect(run.code).toBe(1);
    expect(run.out).toContain('MCP_SECRETS_KEY is required when NODE_ENV=production');
  });
});
