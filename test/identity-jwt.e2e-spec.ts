import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  exportJWK,
  generateKeyPair,
  importPKCS8,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { createTestApp, type TestApp } from './helpers/test-app';

const run = promisify(execFile);
const TOKEN_CLI = join(__dirname, '..', 'dist', 'src', 'modules', 'identity', 'token-cli.js');
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'mcp-backend';

/** A token as the issuer would mint it; `undefined` claims are left out. */
async function sign(
  key: CryptoKey | Uint8Array,
  { alg = 'ES256', kid, ...claims }: { alg?: string; kid?: string } & JWTPayload = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    sub: 'alice',
    roles: ['viewer', 'editor'],
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    exp: now + 600,
    ...claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);
}

// HTTP definitions: an editor may create them (a stdio one needs an admin).
const mcp = (name: string) => ({ name, transport: 'sse', url: 'http://127.0.0.1:1/sse' });

describe('Identity, jwt mode with a public key file (e2e)', () => {
  let t: TestApp;
  let dir: string;
  let privateKey: CryptoKey;
  let publicPem: string;

  beforeAll(async () => {
    // The key pair comes from the token CLI, as a person trying jwt mode would make it.
    dir = await mkdtemp(join(tmpdir(), 'mcp-jwt-'));
    await run(process.execPath, [TOKEN_CLI, '--generate-keys', dir]);
    privateKey = await importPKCS8(await readFile(join(dir, 'private.pem'), 'utf8'), 'ES256');
    publicPem = await readFile(join(dir, 'public.pem'), 'utf8');
    t = await createTestApp({
      env: {
        AUTH_MODE: 'jwt',
        JWT_PUBLIC_KEY_FILE: join(dir, 'public.pem'),
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
      },
    });
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (token?: string) => {
    const req = t.http.get('/api/v1/mcp-definitions');
    return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
  };

  it('accepts a valid token: 2xx, and the actor is its subject', async () => {
    await get(await sign(privateKey)).expect(200);
    const res = await t.http
      .post('/api/v1/mcp-definitions')
      .set('Authorization', `Bearer ${await sign(privateKey, { sub: 'alice' })}`)
      .send(mcp('by-alice'))
      .expect(201);
    const { rows } = await t.db.query<{ actor_id: string }>(
      `SELECT actor_id FROM action_log WHERE entity_id = $1 AND entity_type = 'MCP_DEFINITION'`,
      [String(res.body.id)],
    );
    expect(rows).toEqual([{ actor_id: 'alice' }]);
  });

  it('ignores X-User-ID: a token for alice claiming to be mallory is recorded as alice', async () => {
    const res = await t.http
      .post('/api/v1/mcp-definitions')
      .set('Authorization', `Bearer ${await sign(privateKey, { sub: 'alice' })}`)
      .set('X-User-ID', 'mallory')
      .set('X-User-Roles', 'admin')
      .send(mcp('spoofed'))
      .expect(201);
    const { rows } = await t.db.query<{ actor_id: string }>(
      `SELECT actor_id FROM action_log WHERE entity_id = $1 AND entity_type = 'MCP_DEFINITION'`,
      [String(res.body.id)],
    );
    expect(rows).toEqual([{ actor_id: 'alice' }]);
  });

  it('refuses a request without a token (401, WWW-Authenticate: Bearer), even with X-User-ID', async () => {
    const res = await get().set('X-User-ID', 'alice').expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.body).toEqual({
      statusCode: 401,
      message: 'missing bearer token',
      error: 'Unauthorized',
      requestId: expect.any(String),
    });
  });

  describe('refuses every attack of the matrix with 401 and a short reason', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => Promise<string>, RegExp][] = [
      [
        'alg: none',
        () =>
          Promise.resolve(
            new UnsecuredJWT({ sub: 'alice', roles: ['admin'], iss: ISSUER, aud: AUDIENCE })
              .setExpirationTime('10m')
              .encode(),
          ),
        /algorithm not accepted|malformed/,
      ],
      [
        'HS256 signed with the public key as the secret (algorithm confusion)',
        () => sign(new TextEncoder().encode(publicPem), { alg: 'HS256', roles: ['admin'] }),
        /algorithm not accepted/,
      ],
      ['expired', () => sign(privateKey, { exp: now() - 3600 }), /token expired/],
      ['not yet valid (nbf)', () => sign(privateKey, { nbf: now() + 3600 }), /not yet valid/],
      ['wrong iss', () => sign(privateKey, { iss: 'https://evil.test' }), /issuer/],
      ['wrong aud', () => sign(privateKey, { aud: 'another-service' }), /audience/],
      ['missing sub', () => sign(privateKey, { sub: undefined }), /no subject/],
      ['missing exp', () => sign(privateKey, { exp: undefined }), /no expiry/],
      [
        'bad signature (another key)',
        async () => sign((await generateKeyPair('ES256')).privateKey),
        /signature invalid/,
      ],
      [
        'bad signature (payload changed after signing)',
        async () => {
          const [h, , s] = (await sign(privateKey)).split('.');
          const forged = Buffer.from(
            JSON.stringify({ sub: 'root', roles: ['admin'], exp: now() + 600 }),
          ).toString('base64url');
          return `${h}.${forged}.${s}`;
        },
        /signature invalid/,
      ],
      ['malformed', () => Promise.resolve('not.a.jwt'), /malformed/],
      ['garbage', () => Promise.resolve('abc'), /malformed|invalid token/],
      ['reserved subject', () => sign(privateKey, { sub: 'system' }), /reserved/],
    ];
    it.each(cases)('%s', async (_name, make, reason) => {
      const token = await make();
      // An audited route: the refused attempt is on the record.
      const res = await t.http
        .post('/api/v1/mcp-definitions')
        .set('Authorization', `Bearer ${token}`)
        .send({ name: 'attack', transport: 'stdio', command: 'node' })
        .expect(401);
      expect(res.body.message).toMatch(reason);
      expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(JSON.stringify(res.body)).not.toContain(token);
      await t.flushAudit();
      const { rows } = await t.db.query(`SELECT * FROM action_log WHERE request_id = $1`, [
        res.headers['x-request-id'],
      ]);
      expect(rows).toEqual([
        expect.objectContaining({
          outcome: 'DENIED',
          status_code: 401,
          actor_id: 'anonymous',
          action_type: 'CREATE',
          entity_type: 'MCP_DEFINITION',
          details: { reason: expect.stringMatching(reason) },
        }),
      ]);
      expect(JSON.stringify(rows[0])).not.toContain(token);
    });
  });

  it('bounds a flood of 1,000 bad tokens from one address: N entries plus a summary that adds up', async () => {
    const MAX = 20;
    const flood = await createTestApp({
      databaseUrl: t.databaseUrl,
      env: {
        AUTH_MODE: 'jwt',
        JWT_PUBLIC_KEY_FILE: join(dir, 'public.pem'),
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        AUDIT_REJECTED_MAX_PER_MINUTE: String(MAX),
        RATE_LIMIT_MAX: '0', // the audit trail's own bound is under test, not the rate limit
      },
    });
    try {
      await flood.truncate('action_log');
      const expired = await sign(privateKey, { exp: Math.floor(Date.now() / 1000) - 60 });
      const attempt = () =>
        flood.http
          .post('/api/v1/mcp-definitions')
          .set('Authorization', `Bearer ${expired}`)
          .send(mcp('flood'))
          .expect(401);
      for (let sent = 0; sent < 1000; sent += 50) {
        await Promise.all(Array.from({ length: 50 }, attempt));
      }
      await flood.flushAudit(); // closes the window: the summary is written
      const { rows } = await flood.db.query<{ details: { suppressed?: number } | null }>(
        `SELECT details FROM action_log WHERE outcome = 'DENIED' AND actor_id = 'anonymous'`,
      );
      const single = rows.filter((r) => r.details?.suppressed === undefined);
      const suppressed = rows.reduce((n, r) => n + (r.details?.suppressed ?? 0), 0);
      expect(single).toHaveLength(MAX);
      expect(rows.length).toBeLessThanOrEqual(MAX + 1);
      expect(single.length + suppressed).toBe(1000);
      expect(JSON.stringify(rows)).not.toContain(expired);
    } finally {
      await flood.close();
    }
  });

  it('enforces the roles claim (array or string); unknown role names give nothing', async () => {
    const as = async (roles: unknown) => sign(privateKey, { sub: 'rita', roles });
    const post = async (roles: unknown) =>
      t.http
        .post('/api/v1/mcp-definitions')
        .set('Authorization', `Bearer ${await as(roles)}`)
        .send(mcp(`r-${Math.random().toString(36).slice(2, 8)}`));
    expect((await post(['viewer'])).status).toBe(403);
    expect((await post('viewer editor')).status).toBe(201);
    expect((await post('viewer,admin')).status).toBe(201);
    expect((await post(['root', 'superuser'])).status).toBe(403);
    expect((await post(undefined)).status).toBe(403);
    const logs = (roles: unknown) =>
      as(roles).then((tk) =>
        t.http.get('/api/v1/action-logs').set('Authorization', `Bearer ${tk}`),
      );
    expect((await logs(['auditor'])).status).toBe(200);
    expect((await logs(['viewer', 'editor', 'operator'])).status).toBe(403);
    expect((await logs(['admin'])).status).toBe(200);
  });

  it('mints a working token with `npm run token` (the CLI signs with JWT_PRIVATE_KEY_FILE)', async () => {
    const { stdout } = await run(
      process.execPath,
      [TOKEN_CLI, '--sub', 'cli-user', '--roles', 'viewer,auditor', '--ttl', '5m'],
      {
        env: {
          ...process.env,
          JWT_PRIVATE_KEY_FILE: join(dir, 'private.pem'),
          JWT_ISSUER: ISSUER,
          JWT_AUDIENCE: AUDIENCE,
        },
      },
    );
    const token = stdout.trim();
    await get(token).expect(200);
    await t.http.get('/api/v1/action-logs').set('Authorization', `Bearer ${token}`).expect(200);
    await t.http
      .post('/api/v1/mcp-definitions')
      .set('Authorization', `Bearer ${token}`)
      .send(mcp('cli-made'))
      .expect(403);
  });

  it('documents the bearer scheme in OpenAPI', async () => {
    const { body: doc } = await t.http.get('/docs-json').expect(200);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/api/v1/mcp-definitions'].post.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/health'].get.security).toBeUndefined();
  });
});

describe('Identity, jwt mode with a remote key set (e2e)', () => {
  let t: TestApp;
  let server: Server;
  let fetches = 0;
  let status = 200;
  const keys: JWK[] = [];
  let k1: CryptoKey;
  let k2: CryptoKey;

  beforeAll(async () => {
    const pair1 = await generateKeyPair('ES256', { extractable: true });
    const pair2 = await generateKeyPair('ES256', { extractable: true });
    k1 = pair1.privateKey;
    k2 = pair2.privateKey;
    keys.push({ ...(await exportJWK(pair1.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' });
    // k2 is published later (a key rotation at the identity provider).
    const k2Public = { ...(await exportJWK(pair2.publicKey)), kid: 'k2', alg: 'ES256', use: 'sig' };
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    t = await createTestApp({
      env: {
        AUTH_MODE: 'jwt',
        JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
        JWT_JWKS_COOLDOWN_SECONDS: '0',
      },
    });
    rotate = () => keys.push(k2Public);
  });
  let rotate: () => void;
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (token: string) =>
    t.http.get('/api/v1/workflows').set('Authorization', `Bearer ${token}`);

  it('verifies with the fetched set, refetches once for an unknown kid, and follows a rotation', async () => {
    await get(await sign(k1, { kid: 'k1', iss: undefined, aud: undefined })).expect(200);
    expect(fetches).toBe(1);
    await get(await sign(k1, { kid: 'k1' })).expect(200);
    expect(fetches).toBe(1); // cached

    // Unknown kid: one refetch, still unknown → 401.
    const unknown = await get(await sign(k2, { kid: 'k2' })).expect(401);
    expect(unknown.body.message).toBe('token key (kid) unknown');
    expect(fetches).toBe(2);

    // The provider publishes k2: the next unknown-kid token triggers a refetch that finds it.
    rotate();
    await get(await sign(k2, { kid: 'k2' })).expect(200);
    expect(fetches).toBe(3);
  });

  it('answers 503 (not 401) when the key set cannot be fetched', async () => {
    status = 500;
    const res = await get(await sign(k1, { kid: 'k-new' })).expect(503);
    expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
    status = 200;
  });
});
