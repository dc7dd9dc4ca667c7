import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import type { PoolClient } from 'pg';
import {
  chainHash,
  entryDigest,
  type ChainedFields,
} from '@/modules/auditing/chain/canonical-entry';
import { ENTRY_JSON } from '@/modules/auditing/chain/chain.store';
import {
  readCheckpointFile,
  verifyDatabase,
} from '@/modules/auditing/chain/chain-verification.service';
import { checkpointPayload, type Checkpoint } from '@/modules/auditing/chain/checkpoint';
import { sequentialRunner } from '@/modules/auditing/chain/chunked-verify';
import { linkReader } from '@/modules/auditing/chain/link-reader';
import { readPublicKeys } from '@/modules/auditing/chain/signing-keys';
import { createTestApp, type TestApp } from './helpers/test-app';

/**
 * Whatever an attacker with database access does to a sealed chain — as a superuser, with
 * the append-only triggers disabled — the verifier finds it, at the right position. Each case
 * tampers inside a transaction, verifies inside it, and rolls back.
 */
const ROUNDS = 6;
const PER_ROUND = 4;
const N = ROUNDS * PER_ROUND;

/** One column edit each, always to a different value. */
const EDITS: Record<string, string> = {
  id: `id = id + 1000000`,
  event_id: `event_id = gen_random_uuid()`,
  timestamp: `"timestamp" = "timestamp" + interval '1 microsecond'`,
  actor_id: `actor_id = actor_id || 'x'`,
  actor_roles: `actor_roles = array_append(actor_roles, 'admin')`,
  action_type: `action_type = CASE action_type WHEN 'DELETE' THEN 'CREATE' ELSE 'DELETE' END`,
  entity_type: `entity_type = entity_type || 'X'`,
  entity_id: `entity_id = entity_id || 'x'`,
  outcome: `outcome = CASE outcome WHEN 'SUCCESS' THEN 'FAILURE' ELSE 'SUCCESS' END`,
  status_code: `status_code = COALESCE(status_code, 200) + 1`,
  details: `details = COALESCE(details, '{}') || '{"forged": true}'`,
  request_id: `request_id = COALESCE(request_id, '') || 'x'`,
  correlation_id: `correlation_id = COALESCE(correlation_id, '') || 'x'`,
  ip: `ip = COALESCE(ip, '') || 'x'`,
  user_agent: `user_agent = COALESCE(user_agent, '') || 'x'`,
  method: `method = COALESCE(method, '') || 'x'`,
  path: `path = COALESCE(path, '') || 'x'`,
};

type Way = { copy: boolean; chunkSize?: number };

type Attack =
  | { kind: 'edit'; seq: number; field: string }
  | { kind: 'deleteEntry'; seq: number }
  | { kind: 'deleteLink'; seq: number }
  | { kind: 'forge'; seq: number; recomputeHashes: boolean }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'badCheckpoint'; index: number; bothCopies: boolean };

describe('Tamper evidence: every tampering is found, where it happened (e2e, property)', () => {
  let t: TestApp;
  let trusted: Map<string, KeyObject>;
  let checkpointSeqs: number[];
  let fileCopies: Checkpoint[];

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        RATE_LIMIT_MAX: '0',
        AUDIT_CHECKPOINT_EVERY: String(PER_ROUND),
        AUDIT_SEAL_INTERVAL_MS: '0',
      },
    });
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < PER_ROUND; i++)
        await t.http
          .post('/api/v1/mcp-definitions')
          .set({ 'X-User-ID': `user-${i}`, 'X-User-Roles': 'admin' })
          .send({
            name: `tamper-${round}-${i}`,
            transport: 'streamable-http',
            url: 'http://127.0.0.1:1/mcp',
          })
          .expect(201);
      await t.seal();
    }
    const jwk = (await t.http.get('/api/v1/action-logs/public-key').expect(200)).body;
    trusted = await readPublicKeys(JSON.stringify(jwk), 'public key');
    const { rows } = await t.db.query(`SELECT seq::int AS seq FROM audit_checkpoints ORDER BY seq`);
    checkpointSeqs = rows.map((r) => r.seq);
    fileCopies = await readCheckpointFile(t.checkpointFile);
    // The chain ends on a checkpoint (a cut tail is then always provable).
    expect(checkpointSeqs[checkpointSeqs.length - 1]).toBe(N);
    expect(fileCopies.map((c) => Number(c.seq))).toEqual(checkpointSeqs);
  }, 120_000);
  afterAll(() => t.close());

  it('is intact before anyone touches it', async () => {
    for (const way of [{ copy: false }, { copy: true }, { copy: true, chunkSize: 5 }]) {
      const result = await withAttacker(t, (db) => verify(db, fileCopies, way));
      expect(result).toMatchObject({ ok: true, checked: N, firstInvalid: null });
      expect(result.lastCheckpoint?.seq).toBe(String(N));
    }
  });

  const position = fc.integer({ min: 1, max: N });
  const attacks: fc.Arbitrary<Attack> = fc.oneof(
    fc.record({
      kind: fc.constant('edit' as const),
      seq: position,
      field: fc.constantFrom(...Object.keys(EDITS)),
    }),
    fc.record({ kind: fc.constant('deleteEntry' as const), seq: position }),
    fc.record({ kind: fc.constant('deleteLink' as const), seq: position }),
    fc.record({
      kind: fc.constant('forge' as const),
      seq: position,
      recomputeHashes: fc.boolean(),
    }),
    fc
      .record({ a: position, b: position })
      .filter(({ a, b }) => a !== b)
      .map(({ a, b }) => ({ kind: 'swap' as const, a: Math.min(a, b), b: Math.max(a, b) })),
    fc.record({ kind: fc.constant('truncate' as const), keep: fc.integer({ min: 0, max: N - 1 }) }),
    fc.record({
      kind: fc.constant('badCheckpoint' as const),
      index: fc.nat({ max: ROUNDS - 1 }),
      bothCopies: fc.boolean(),
    }),
  );

  /** How the chain is read: plain queries or COPY, in one chunk or in chunks of a few positions. */
  const ways: fc.Arbitrary<Way> = fc.record({
    copy: fc.boolean(),
    chunkSize: fc.option(fc.integer({ min: 1, max: N }), { nil: undefined }),
  });

  it('finds each tampering at its first invalid position (1,000 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(attacks, ways, async (attack, way) => {
        const result = await withAttacker(t, async (db) => {
          const copies = await tamper(db, attack);
          return verify(db, copies, way);
        });
        expect(result.ok).toBe(false);
        const at = expectedPosition(attack);
        expect(result.firstInvalid?.seq).toBe(String(at));
        // Whichever way it was read, the verdict of one pass in order.
        expect(result.checked).toBe(at - 1);
        const before = checkpointSeqs.filter((c) => c < at);
        expect(result.lastCheckpoint?.seq ?? null).toBe(
          before.length ? String(before[before.length - 1]) : null,
        );
      }),
      { numRuns: 1000 },
    );
  }, 300_000);

  /** Where the verifier must say the chain stops holding. */
  function expectedPosition(attack: Attack): number {
    switch (attack.kind) {
      case 'edit':
      case 'deleteEntry':
      case 'deleteLink':
        return attack.seq;
      case 'forge':
        // Rewriting every hash after the forgery keeps the chain consistent up to the next
        // signed checkpoint, which no longer matches.
        return attack.recomputeHashes ? checkpointSeqs.find((c) => c >= attack.seq)! : attack.seq;
      case 'swap':
        return attack.a;
      case 'truncate':
        return attack.keep + 1;
      case 'badCheckpoint':
        return checkpointSeqs[attack.index];
    }
  }

  /** Tampers; returns the checkpoint copies outside the database as the attacker left them. */
  async function tamper(db: PoolClient, attack: Attack): Promise<Checkpoint[]> {
    const entryAt = (seq: number) => `(SELECT entry_id FROM action_log_chain WHERE seq = ${seq})`;
    switch (attack.kind) {
      case 'edit':
        await db.query(
          `UPDATE action_log SET ${EDITS[attack.field]} WHERE id = ${entryAt(attack.seq)}`,
        );
        break;
      case 'deleteEntry':
        await db.query(`DELETE FROM action_log WHERE id = ${entryAt(attack.seq)}`);
        break;
      case 'deleteLink':
        await db.query(`DELETE FROM action_log WHERE id = ${entryAt(attack.seq)}`);
        await db.query(`DELETE FROM action_log_chain WHERE seq = ${attack.seq}`);
        break;
      case 'forge': {
        // Positions are unique: later rows move up through a free range.
        await db.query(`UPDATE action_log_chain SET seq = seq + 1000000 WHERE seq >= $1`, [
          attack.seq,
        ]);
        await db.query(`UPDATE action_log_chain SET seq = seq - 999999 WHERE seq > 1000000`);
        const { rows } = await db.query<{ id: string }>(
          `INSERT INTO action_log (event_id, actor_id, action_type, entity_type, entity_id)
           VALUES (gen_random_uuid(), 'mallory', 'DELETE', 'MCP_DEFINITION', 'evidence')
           RETURNING id::text AS id`,
        );
        await db.query(
          `INSERT INTO action_log_chain (seq, entry_id, hash, hash_version) VALUES ($1, $2, $3, 1)`,
          [attack.seq, rows[0].id, randomBytes(32)],
        );
        if (attack.recomputeHashes) await rehash(db, attack.seq);
        break;
      }
      case 'swap':
        // Two rows change places (through a free range, positions being unique).
        await db.query(`UPDATE action_log_chain SET seq = seq + 1000000 WHERE seq IN ($1, $2)`, [
          attack.a,
          attack.b,
        ]);
        await db.query(
          `UPDATE action_log_chain SET seq = CASE seq WHEN $1::bigint + 1000000 THEN $2::bigint ELSE $1::bigint END
           WHERE seq > 1000000`,
          [attack.a, attack.b],
        );
        break;
      case 'truncate':
        await db.query(
          `DELETE FROM action_log WHERE id IN (SELECT entry_id FROM action_log_chain WHERE seq > $1)`,
          [attack.keep],
        );
        await db.query(`DELETE FROM action_log_chain WHERE seq > $1`, [attack.keep]);
        await db.query(`DELETE FROM audit_checkpoints WHERE seq > $1`, [attack.keep]);
        break;
      case 'badCheckpoint': {
        const seq = checkpointSeqs[attack.index];
        // Re-signed with the attacker's own key (in both copies), or a signature that does
        // not hold (in the database only).
        const forged = attack.bothCopies ? forgeCheckpoint(fileCopies[attack.index]) : null;
        await db.query(`UPDATE audit_checkpoints SET signature = $2, key_id = $3 WHERE seq = $1`, [
          seq,
          forged ? Buffer.from(forged.signature, 'base64url') : randomBytes(64),
          forged?.keyId ?? fileCopies[attack.index].keyId,
        ]);
        if (forged) return fileCopies.map((c, i) => (i === attack.index ? forged : c));
        break;
      }
    }
    return fileCopies;
  }

  function verify(db: PoolClient, copies: Checkpoint[], way: Way = { copy: false }) {
    const runner = way.copy ? sequentialRunner(queryable(db), linkReader(db), trusted) : undefined;
    return verifyDatabase(queryable(db), trusted, copies, {}, { runner, chunkSize: way.chunkSize });
  }
});

/** Recomputes every hash from `from` on, as an attacker who knows the algorithm would. */
async function rehash(db: PoolClient, from: number): Promise<void> {
  const { rows } = await db.query<{
    seq: string;
    entry: Omit<ChainedFields, 'seq'>;
    prev: Buffer | null;
  }>(
    `SELECT c.seq::text AS seq, ${ENTRY_JSON('l')} AS entry,
            (SELECT hash FROM action_log_chain p WHERE p.seq = c.seq - 1) AS prev
     FROM action_log_chain c JOIN action_log l ON l.id = c.entry_id
     WHERE c.seq >= $1 ORDER BY c.seq`,
    [from],
  );
  let prev = rows[0].prev ?? Buffer.alloc(32);
  for (const row of rows) {
    prev = chainHash(prev, entryDigest({ ...row.entry, seq: row.seq }));
    await db.query(`UPDATE action_log_chain SET hash = $2 WHERE seq = $1`, [row.seq, prev]);
  }
}

function forgeCheckpoint(original: Checkpoint): Checkpoint {
  const { privateKey } = generateKeyPairSync('ed25519');
  const unsigned = { ...original, keyId: 'attacker-key' };
  return {
    ...unsigned,
    signature: sign(null, checkpointPayload(unsigned), privateKey).toString('base64url'),
  };
}

function queryable(db: PoolClient) {
  return { query: async (sql: string, params?: unknown[]) => (await db.query(sql, params)).rows };
}

/** Runs `work` in a transaction as a superuser with triggers disabled, then rolls back. */
async function withAttacker<T>(t: TestApp, work: (db: PoolClient) => Promise<T>): Promise<T> {
  const db = await t.db.connect();
  try {
    await db.query('BEGIN');
    await db.query(`SET LOCAL session_replication_role = replica`);
    return await work(db);
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
    db.release();
  }
}
