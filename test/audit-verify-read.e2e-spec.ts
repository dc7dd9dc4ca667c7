import fc from 'fast-check';
import type { PoolClient } from 'pg';
import { verifyDatabase } from '@/modules/auditing/chain/chain-verification.service';
import { sequentialRunner } from '@/modules/auditing/chain/chunked-verify';
import { linkReader } from '@/modules/auditing/chain/link-reader';
import { readPublicKeys } from '@/modules/auditing/chain/signing-keys';
import { createTestApp, type TestApp } from './helpers/test-app';

/**
 * The verifier's fast read (COPY text, parsed here; columns hashed without an entry object;
 * text columns only quoted when the line shows nothing to escape) against what the sealer
 * hashed, on entries full of what breaks parsers: quotes, backslashes, tabs, newlines, the
 * text `\N`, control characters, non-BMP characters, NULLs, escapes and numbers in details.
 */
const ROWS = 60;

/** Text PostgreSQL can store (no NUL, no lone surrogate), with the troublemakers often. */
const nasty = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.constantFrom('\\N', '\\', '"', '\t', '\n', '\r\n', '\u0001\u001f\u007f', '\\t\\n', '😀é'),
    fc.string({ maxLength: 8 }),
  )
  .map((s) => s.replaceAll('\u0000', ''))
  .filter((s) => (s as string & { isWellFormed(): boolean }).isWellFormed());

const row = fc.record({
  actorId: nasty.map((s) => `a${s}`),
  entityId: nasty.map((s) => `e${s}`),
  roles: fc.array(nasty, { maxLength: 3 }),
  details: fc.option(
    fc.dictionary(
      nasty,
      fc.oneof(
        nasty,
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      {
        maxKeys: 4,
      },
    ),
    { nil: null },
  ),
  requestId: fc.option(nasty, { nil: null }),
  ip: fc.option(nasty, { nil: null }),
  userAgent: fc.option(nasty, { nil: null }),
  path: fc.option(nasty, { nil: null }),
  statusCode: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
});

describe('Verification reads what the sealer hashed, whatever the text (e2e, property)', () => {
  let t: TestApp;
  let trusted: Awaited<ReturnType<typeof readPublicKeys>>;

  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '0', AUDIT_SEAL_INTERVAL_MS: '0' } });
    const rows = fc.sample(row, { numRuns: ROWS, seed: 42 });
    for (const r of rows)
      await t.db.query(
        `INSERT INTO action_log (event_id, actor_id, action_type, entity_type, entity_id, details,
                                 request_id, correlation_id, ip, user_agent, method, path,
                                 status_code, actor_roles)
         VALUES (gen_random_uuid(), $1, 'UPDATE', 'MCP_DEFINITION', $2, $3, $4, $4, $5, $6, 'PATCH',
                 $7, $8, $9)`,
        [
          r.actorId.slice(0, 128),
          r.entityId.slice(0, 256),
          r.details === null ? null : JSON.stringify(r.details),
          r.requestId,
          r.ip,
          r.userAgent,
          r.path,
          r.statusCode,
          r.roles,
        ],
      );
    await t.seal();
    const jwk = (await t.http.get('/api/v1/action-logs/public-key').expect(200)).body;
    trusted = await readPublicKeys(JSON.stringify(jwk), 'public key');
  }, 120_000);
  afterAll(() => t.close());

  const ways = [
    { name: 'queries', copy: false },
    { name: 'COPY', copy: true },
    { name: 'COPY in chunks of 7', copy: true, chunkSize: 7 },
  ];

  it.each(ways)('holds, read by $name', async (way) => {
    const result = await withClient(t, (db) => verify(db, way));
    expect(result).toMatchObject({ ok: true, firstInvalid: null });
    expect(result.checked).toBeGreaterThanOrEqual(ROWS);
  });

  it('finds any one character changed in any text column, read by COPY (300 cases)', async () => {
    const { rows } = await t.db.query<{ seq: number }>(
      `SELECT c.seq::int AS seq FROM action_log_chain c JOIN action_log l ON l.id = c.entry_id
       WHERE l.actor_id <> 'system' AND l.entity_type = 'MCP_DEFINITION' AND l.method = 'PATCH'
       ORDER BY c.seq`,
    );
    const column = fc.constantFrom(
      'actor_id',
      'entity_id',
      'request_id',
      'ip',
      'user_agent',
      'path',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...rows.map((r) => r.seq)),
        column,
        nasty,
        async (seq, col, extra) => {
          const result = await withClient(t, async (db) => {
            await db.query('BEGIN');
            await db.query(`SET LOCAL session_replication_role = replica`);
            const changed = await db.query(
              `UPDATE action_log SET ${col} = ${col} || $2
             WHERE id = (SELECT entry_id FROM action_log_chain WHERE seq = $1) AND ${col} IS NOT NULL`,
              [seq, extra || 'x'],
            );
            const verdict = await verify(db, { copy: true, chunkSize: 5 });
            await db.query('ROLLBACK');
            return changed.rowCount ? verdict : null;
          });
          if (result) expect(result.firstInvalid?.seq).toBe(String(seq));
        },
      ),
      { numRuns: 300 },
    );
  }, 300_000);

  function verify(db: PoolClient, way: { copy: boolean; chunkSize?: number }) {
    const queryable = {
      query: async (sql: string, params?: unknown[]) => (await db.query(sql, params)).rows,
    };
    const runner = way.copy ? sequentialRunner(queryable, linkReader(db), trusted) : undefined;
    return verifyDatabase(queryable, trusted, [], {}, { runner, chunkSize: way.chunkSize });
  }
});

async function withClient<T>(t: TestApp, work: (db: PoolClient) => Promise<T>): Promise<T> {
  const db = await t.db.connect();
  try {
    return await work(db);
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
    db.release();
  }
}
