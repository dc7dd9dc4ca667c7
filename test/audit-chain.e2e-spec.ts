import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import canonicalize from 'canonicalize';
import { AuditOutboxService, ChainSealer } from '@/modules/auditing';
import { createTestApp, type TestApp } from './helpers/test-app';

/**
 * The hash chain end to end, checked the way an outside auditor would: with RFC 8785 (the
 * `canonicalize` package), SHA-256 and the public key, not with the service's own code.
 */
describe('Tamper evidence: the hash chain (e2e)', () => {
  let t: TestApp;
  const admin = { 'X-User-ID': 'alice', 'X-User-Roles': 'admin' };
  const auditor = { 'X-User-ID': 'audrey', 'X-User-Roles': 'auditor' };

  beforeAll(async () => {
    t = await createTestApp({
      env: { RATE_LIMIT_MAX: '0', AUDIT_CHECKPOINT_EVERY: '5', AUDIT_SEAL_INTERVAL_MS: '60000' },
    });
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox', 'mcp_versions', 'mcp_definitions'));
  afterAll(() => t.close());

  const create = (name: string) =>
    t.http
      .post('/api/v1/mcp-definitions')
      .set(admin)
      .send({ name, transport: 'streamable-http', url: 'http://127.0.0.1:1/mcp' })
      .expect(201);

  /** What an auditor recomputes: SHA-256 of the RFC 8785 form of the entry's fields. */
  function digestOf(entry: Record<string, unknown>): Buffer {
    const { hash: _hash, ...fields } = entry;
    return createHash('sha256')
      .update(canonicalize({ ...fields, hashVersion: 1 }) as string)
      .digest();
  }
  const fold = (prev: Buffer, digest: Buffer) =>
    createHash('sha256')
      .update(Buffer.concat([prev, digest]))
      .digest();

  it('gives every stored entry a gapless position and a hash an auditor can recompute', async () => {
    for (let i = 0; i < 7; i++) await create(`chain-${i}`);
    await t.seal();
    const { body } = await t.http.get('/api/v1/action-logs?limit=100').set(auditor).expect(200);
    const items = [...body.items].reverse();
    expect(items.map((e: { seq: string }) => e.seq)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    let prev = Buffer.alloc(32);
    for (const entry of items) {
      prev = fold(prev, digestOf(entry));
      expect(entry.hash).toBe(prev.toString('hex'));
    }
    // The search just made is itself an entry (written in the background): it waits for the
    // next pass.
    await t.flushAudit();
    const health = await t.http.get('/api/v1/health').expect(200);
    expect(health.body.info.auditing.unsealed).toBe(1);
    await t.seal();
    const after = await t.http.get('/api/v1/health').expect(200);
    expect(after.body.info.auditing).toMatchObject({ unsealed: 0, oldestUnsealedAgeMs: null });
  });

  it('signs checkpoints into the database and the file, with the served public key', async () => {
    for (let i = 0; i < 6; i++) await create(`cp-${i}`);
    await t.seal();
    const jwk = (await t.http.get('/api/v1/action-logs/public-key').expect(200)).body;
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    const lines = (await readFile(t.checkpointFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const { rows } = await t.db.query(
      `SELECT seq::text, encode(hash, 'hex') AS hash FROM audit_checkpoints ORDER BY seq`,
    );
    expect(lines.map((c) => [c.seq, c.hash])).toEqual(rows.map((r) => [r.seq, r.hash]));
    expect(lines.length).toBeGreaterThan(0);
    for (const c of lines) {
      const payload = canonicalize({
        seq: c.seq,
        hash: c.hash,
        timestamp: c.timestamp,
        keyId: c.keyId,
      });
      expect(c.keyId).toBe(jwk.kid);
      expect(
        verify(null, Buffer.from(payload as string), key, Buffer.from(c.signature, 'base64url')),
      ).toBe(true);
    }
    const result = await t.http.get('/api/v1/action-logs/verify').set(auditor).expect(200);
    expect(result.body).toMatchObject({ ok: true, checked: 6, firstInvalid: null });
    expect(result.body.lastCheckpoint.seq).toBe(lines[lines.length - 1].seq);
  });

  it('proves that one entry belongs to the signed history', async () => {
    for (let i = 0; i < 9; i++) await create(`proof-${i}`);
    await t.seal();
    const [{ id }] = (await t.entries(`entity_id IS NOT NULL`)).slice(2, 3);
    const { body: proof } = await t.http
      .get(`/api/v1/action-logs/${id}/proof`)
      .set(auditor)
      .expect(200);
    expect(proof.entry.id).toBe(String(id));
    let hash = fold(Buffer.from(proof.prevHash, 'hex'), digestOf(proof.entry));
    expect(hash.toString('hex')).toBe(proof.entry.hash);
    for (const f of proof.following) hash = fold(hash, Buffer.from(f.digest, 'hex'));
    expect(hash.toString('hex')).toBe(proof.checkpoint.hash);
    const c = proof.checkpoint;
    const payload = canonicalize({
      seq: c.seq,
      hash: c.hash,
      timestamp: c.timestamp,
      keyId: c.keyId,
    });
    const key = createPublicKey({ key: proof.publicKey, format: 'jwk' });
    expect(
      verify(null, Buffer.from(payload as string), key, Buffer.from(c.signature, 'base64url')),
    ).toBe(true);
  });

  it('answers 409 for an entry not sealed yet, 404 for none, 400 for a bad id', async () => {
    await create('unsealed');
    const [{ id }] = await t.entries();
    await t.http.get(`/api/v1/action-logs/${id}/proof`).set(auditor).expect(409);
    const one = await t.http.get(`/api/v1/action-logs/${id}`).set(auditor).expect(200);
    expect(one.body).toMatchObject({ seq: null, hash: null });
    const health = await t.http.get('/api/v1/health').expect(200);
    // The create, and the reads of the trail just made (written in the background).
    expect(health.body.info.auditing.unsealed).toBeGreaterThanOrEqual(1);
    expect(health.body.info.auditing.oldestUnsealedAgeMs).toEqual(expect.any(Number));
    await t.http.get(`/api/v1/action-logs/999999/proof`).set(auditor).expect(404);
    await t.http.get(`/api/v1/action-logs/9999999999999999999/proof`).set(auditor).expect(404);
    await t.http.get(`/api/v1/action-logs/x1/proof`).set(auditor).expect(400);
    await t.http.get(`/api/v1/action-logs/verify?fromSeq=0`).set(auditor).expect(400);
    await t.http.get(`/api/v1/action-logs/verify?fromSeq=3&toSeq=2`).set(auditor).expect(400);
    // Positions that do not exist are a bad request, not a broken chain.
    const past = await t.http.get(`/api/v1/action-logs/verify?fromSeq=50`).set(auditor).expect(400);
    expect(past.body.message).toMatch(/past the end of the chain/);
  });

  it('chains an entry whose transaction commits after a later one, once, after it', async () => {
    await create('before');
    // A transaction that stores an entry and stays open (its id is smaller) …
    const slow = await t.db.connect();
    try {
      await slow.query('BEGIN');
      await slow.query(
        `SELECT audit_write(gen_random_uuid(), 'slow-writer', 'CREATE', 'MCP_DEFINITION', 'slow',
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, 'SUCCESS', NULL, '{}'::text[], NULL)`,
      );
      // … while a later one commits.
      await create('after');
      await t.app.get(ChainSealer).seal();
      const chainedWhileOpen = await t.db.query(
        `SELECT l.actor_id FROM action_log_chain c JOIN action_log l ON l.id = c.entry_id ORDER BY seq`,
      );
      // Nothing stored after the open transaction began is chained before it ends.
      expect(chainedWhileOpen.rows.map((r) => r.actor_id)).toEqual(['alice']);
      await slow.query('COMMIT');
    } finally {
      slow.release();
    }
    await t.seal();
    const { rows } = await t.db.query(
      `SELECT c.seq::text, l.actor_id, l.entity_id FROM action_log_chain c
       JOIN action_log l ON l.id = c.entry_id ORDER BY c.seq`,
    );
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => r.seq)).toEqual(['1', '2', '3']);
    expect(rows.map((r) => r.actor_id).sort()).toEqual(['alice', 'alice', 'slow-writer']);
    const result = await t.http.get('/api/v1/action-logs/verify').set(auditor).expect(200);
    expect(result.body).toMatchObject({ ok: true, checked: 3 });
  });

  it('chains entries that reach the log through the outbox', async () => {
    await t.db.query(
      `INSERT INTO audit_outbox (event_id, occurred_at, entry) VALUES (gen_random_uuid(), now(),
        '{"actorId":"late","actionType":"CREATE","entityType":"MCP_DEFINITION","entityId":"x"}')`,
    );
    await t.app.get(AuditOutboxService).drain();
    await t.seal();
    const result = await t.http.get('/api/v1/action-logs/verify').set(auditor).expect(200);
    expect(result.body).toMatchObject({ ok: true, checked: 1 });
  });

  it('finds an edited entry, and says where', async () => {
    for (let i = 0; i < 4; i++) await create(`edit-${i}`);
    await t.seal();
    await asAttacker(
      t,
      `UPDATE action_log SET actor_id = 'mallory' WHERE id = (SELECT entry_id FROM action_log_chain WHERE seq = 3)`,
    );
    const result = await t.http.get('/api/v1/action-logs/verify').set(auditor).expect(200);
    expect(result.body.ok).toBe(false);
    expect(result.body.firstInvalid).toEqual({
      seq: '3',
      reason: expect.stringMatching(/does not match its hash/),
    });
    const partial = await t.http
      .get('/api/v1/action-logs/verify?fromSeq=1&toSeq=2')
      .set(auditor)
      .expect(200);
    expect(partial.body).toMatchObject({ ok: true, checked: 2 });
  });
});

/** SQL run as a superuser with the append-only triggers disabled, as an attacker would. */
async function asAttacker(t: TestApp, sql: string): Promise<void> {
  const client = await t.db.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL session_replication_role = replica`);
    await client.query(sql);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}
