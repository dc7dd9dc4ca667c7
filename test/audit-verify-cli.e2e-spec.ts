import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createTestApp, type TestApp } from './helpers/test-app';

const run = promisify(execFile);
const CLI = resolve('dist/src/modules/auditing/chain/verify-cli.js');
const KEYS_CLI = resolve('dist/src/modules/auditing/chain/keys-cli.js');

/** `npm run audit:verify` (built), against the database and offline, and `keys:generate`. */
describe('audit:verify and keys:generate (e2e, child process)', () => {
  let t: TestApp;
  let dir: string;
  const auditor = { 'X-User-ID': 'audrey', 'X-User-Roles': 'auditor' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-verify-cli-'));
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '0', AUDIT_SEAL_INTERVAL_MS: '0' } });
    for (let i = 0; i < 12; i++)
      await t.http
        .post('/api/v1/mcp-definitions')
        .set({ 'X-User-ID': 'alice', 'X-User-Roles': 'admin' })
        .send({ name: `cli-${i}`, transport: 'streamable-http', url: 'http://127.0.0.1:1/mcp' })
        .expect(201);
    await t.seal();
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs a CLI; resolves with its exit code and parsed JSON output. */
  async function cli(script: string, args: string[], env: Record<string, string> = {}) {
    try {
      const { stdout } = await run(process.execPath, [script, ...args], {
        env: {
          ...process.env,
          DATABASE_URL: t.databaseUrl,
          AUDIT_CHECKPOINT_FILE: t.checkpointFile,
          ...env,
        },
      });
      return { code: 0, stdout };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('verifies an export offline with the checkpoint file and the public key alone', async () => {
    // The service's own export: what an auditor is handed.
    const exported = await t.http
      .get('/api/v1/action-logs/export?format=ndjson')
      .set(auditor)
      .expect(200);
    const sealed = exported.text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { seq: string | null; actorId: string })
      .filter((e) => e.seq !== null && Number(e.seq) <= 12);
    expect(sealed).toHaveLength(12);
    const exportFile = join(dir, 'export.ndjson');
    const keyFile = join(dir, 'key.jwk');
    const write = (items: object[]) =>
      writeFile(exportFile, items.map((e) => JSON.stringify(e)).join('\n'));
    const jwk = (await t.http.get('/api/v1/action-logs/public-key').expect(200)).body;
    await writeFile(keyFile, JSON.stringify(jwk));
    const offline = [
      '--export',
      exportFile,
      '--checkpoints',
      t.checkpointFile,
      '--public-key',
      keyFile,
    ];
    // No database at all: a URL that leads nowhere.
    const noDb = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    await write(sealed);
    const clean = await cli(CLI, offline, noDb);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, checked: 12, firstInvalid: null });
    expect(JSON.parse(clean.stdout).lastCheckpoint.seq).toBe('12');
    // One line rewritten in the export.
    await write(sealed.map((e) => (e.seq === '5' ? { ...e, actorId: 'mallory' } : e)));
    const edited = await cli(CLI, offline, noDb);
    expect(edited.code).toBe(1);
    expect(JSON.parse(edited.stdout).firstInvalid).toMatchObject({ seq: '5' });
    // Another key cannot vouch for these checkpoints.
    await write(sealed);
    await writeFile(
      keyFile,
      JSON.stringify({ ...jwk, x: Buffer.alloc(32, 7).toString('base64url') }),
    );
    const wrongKey = await cli(CLI, offline, noDb);
    expect(wrongKey.code).toBe(1);
    expect(JSON.parse(wrongKey.stdout).firstInvalid.reason).toMatch(/unknown key/);
  });

  it('verifies the database (exit 0) and says where it breaks (exit 1)', async () => {
    const good = await cli(CLI, []);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ ok: true, checked: 12, firstInvalid: null });
    // In worker threads, chunks of 3 positions (one snapshot): the same verdict.
    const parallel = ['--workers', '2', '--chunk-size', '3'];
    const inWorkers = await cli(CLI, parallel);
    expect(inWorkers.code).toBe(0);
    expect(JSON.parse(inWorkers.stdout)).toMatchObject({
      ok: true,
      checked: 12,
      firstInvalid: null,
    });
    expect((await cli(CLI, ['--workers', '0'])).code).toBe(2);
    const client = await t.db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL session_replication_role = replica`);
      await client.query(
        `UPDATE action_log SET entity_id = 'rewritten' WHERE id = (SELECT entry_id FROM action_log_chain WHERE seq = 7)`,
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const bad = await cli(CLI, []);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).firstInvalid).toMatchObject({ seq: '7' });
    // Chunks 1-3, 4-6 hold, 7-9 fails at its first position, 10-12 holds or is not run.
    const badInWorkers = await cli(CLI, parallel);
    expect(badInWorkers.code).toBe(1);
    expect(JSON.parse(badInWorkers.stdout)).toMatchObject({
      ok: false,
      checked: 6,
      firstInvalid: { seq: '7' },
    });
    const oneWorker = await cli(CLI, ['--workers', '1', '--chunk-size', '4']);
    expect(JSON.parse(oneWorker.stdout)).toMatchObject({ checked: 6, firstInvalid: { seq: '7' } });
    const range = await cli(CLI, ['--from-seq', '1', '--to-seq', '6']);
    expect(JSON.parse(range.stdout)).toMatchObject({ ok: true, checked: 6 });
  });

  it('keys:generate writes a private key (0600) and its JWK, and never overwrites', async () => {
    const out = join(dir, 'keys');
    const first = await cli(KEYS_CLI, ['--out', out]);
    expect(first.code).toBe(0);
    expect((await stat(join(out, 'audit-signing.key'))).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(await readFile(join(out, 'audit-signing.pub.jwk'), 'utf8'));
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: expect.any(String) });
    expect(first.stdout).toContain(jwk.kid);
    const again = await cli(KEYS_CLI, ['--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists already/);
  });
});
