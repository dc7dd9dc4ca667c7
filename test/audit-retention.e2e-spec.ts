import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Pool } from 'pg';
import {
  AuditOutboxService,
  AuditRetentionService,
  type ArchiveManifest,
} from '@/modules/auditing';
import { createTestApp, type TestApp } from './helpers/test-app';
import { GIN_PENDING_LIST_KB } from '@/database/migrations/1795950000000-GinPendingListLimit';

const BULK = '/api/v1/action-logs/bulk';
const HOLDS = '/api/v1/action-logs/holds';
const DAY = 86_400_000;

/** The first instant of the UTC month `offset` months from `now`'s. */
const monthStart = (offset: number, now = new Date()) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
const partitionName = (d: Date) =>
  `action_log_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;

const bulkEntry = (overrides: Record<string, unknown> = {}) => ({
  eventId: randomUUID(),
  actorId: 'importer',
  actionType: 'UPDATE',
  entityType: 'MCP_DEFINITION',
  entityId: '42',
  details: { status: 'OK' },
  ...overrides,
});

describe('The partitioned action log: months, exactly-once (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '0', AUDIT_PARTITIONS_AHEAD: '3' } });
  });
  beforeEach(() => t.truncate('action_log', 'audit_outbox'));
  afterAll(() => t.close());

  const partitions = async (): Promise<string[]> =>
    (
      await t.db.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'action_log'::regclass ORDER BY 1`,
      )
    ).rows.map((r) => r.name);

  it('is range-partitioned by month, with the current month and the next three ready', async () => {
    const { rows } = await t.db.query(
      `SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'action_log'::regclass`,
    );
    expect(rows).toEqual([{ partstrat: 'r' }]);
    const names = await partitions();
    for (let m = 0; m <= 3; m++) expect(names).toContain(partitionName(monthStart(m)));
  });

  it('stores an event id retried across a month boundary once (bulk)', async () => {
    const eventId = randomUUID();
    const boundary = monthStart(-1);
    const before = new Date(boundary.getTime() - 1).toISOString(); // the month before's last ms
    const after = boundary.toISOString();
    const first = await t.http
      .post(BULK)
      .send({ entries: [bulkEntry({ eventId, timestamp: before })] })
      .expect(200);
    expect(first.body).toEqual({ stored: 1, alreadyPresent: 0 });
    // The retry carries another time: its row would land in the next month's partition.
    const retry = await t.http
      .post(BULK)
      .send({
        entries: [bulkEntry({ eventId, timestamp: after }), bulkEntry({ timestamp: after })],
      })
      .expect(200);
    expect(retry.body).toEqual({ stored: 1, alreadyPresent: 1 });
    const rows = await t.entries(`event_id = $1`, [eventId]);
    expect(rows).toHaveLength(1);
    expect(new Date(rows[0].timestamp as string).toISOString()).toBe(before);
  });

  it('stores an event id once when the outbox retrier and a bulk call race across months', async () => {
    const eventIds = Array.from({ length: 50 }, () => randomUUID());
    const boundary = monthStart(0);
    // Pending in the outbox with this month's time …
    await t.db.query(
      `INSERT INTO audit_outbox (event_id, occurred_at, entry)
       SELECT e, $2, jsonb_build_object('actorId', 'outboxed', 'actionType', 'UPDATE',
         'entityType', 'MCP_DEFINITION', 'entityId', '1')
       FROM unnest($1::uuid[]) e`,
      [eventIds, boundary.toISOString()],
    );
    // … and imported with last month's, at the same time.
    const lastMonth = new Date(boundary.getTime() - 1000).toISOString();
    await Promise.all([
      t.http
        .post(BULK)
        .send({ entries: eventIds.map((eventId) => bulkEntry({ eventId, timestamp: lastMonth })) })
        .expect(200),
      t.app.get(AuditOutboxService).drain(),
    ]);
    await t.app.get(AuditOutboxService).drain();
    const { rows } = await t.db.query(
      `SELECT event_id::text, count(*)::int AS n FROM action_log WHERE event_id = ANY($1::uuid[])
       GROUP BY 1`,
      [eventIds],
    );
    expect(rows).toHaveLength(50);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    const registered = await t.db.query(
      `SELECT count(*)::int AS n FROM action_log_event_ids WHERE event_id = ANY($1::uuid[])`,
      [eventIds],
    );
    expect(registered.rows[0].n).toBe(50);
  });

  it('makes room for an import of history: the months it reaches get their partitions', async () => {
    const res = await t.http
      .post(BULK)
      .send({
        entries: [
          bulkEntry({ timestamp: '2019-03-04T05:06:07.000008Z' }),
          bulkEntry({ timestamp: '2021-12-31T23:59:59.999999Z' }),
        ],
      })
      .expect(200);
    expect(res.body.stored).toBe(2);
    expect(await partitions()).toEqual(
      expect.arrayContaining(['action_log_2019_03', 'action_log_2021_12']),
    );
    const { rows } = await t.db.query(
      `SELECT tableoid::regclass::text AS part FROM action_log WHERE actor_id = 'importer' ORDER BY 1`,
    );
    expect(rows.map((r) => r.part)).toEqual(['action_log_2019_03', 'action_log_2021_12']);
    // Every month's GIN indexes, new ones included, keep a short pending list (a search reads
    // all of it): the partitioned index cannot carry the setting for them.
    const gin = await t.db.query<{ name: string; options: string[] | null }>(
      `SELECT c.relname AS name, c.reloptions AS options
       FROM pg_partition_tree('action_log') p
       JOIN pg_index x ON x.indrelid = p.relid
       JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_am a ON a.oid = c.relam
       WHERE p.isleaf AND a.amname = 'gin' ORDER BY 1`,
    );
    expect(gin.rows.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'action_log_2019_03_details_idx',
        'action_log_2019_03_actor_roles_idx',
      ]),
    );
    expect(
      gin.rows.filter((r) => !r.options?.includes(`gin_pending_list_limit=${GIN_PENDING_LIST_KB}`)),
    ).toEqual([]);
  });

  it('finds an entry by its event id (the registry says which partition)', async () => {
    const eventId = randomUUID();
    await t.http
      .post(BULK)
      .send({ entries: [bulkEntry({ eventId, timestamp: '2020-06-01T00:00:00Z' })] })
      .expect(200);
    const { rows } = await t.db.query(
      `SELECT entry_id::text, entry_time FROM action_log_event_ids WHERE event_id = $1`,
      [eventId],
    );
    const [stored] = await t.entries(`event_id = $1`, [eventId]);
    expect(rows).toEqual([{ entry_id: String(stored.id), entry_time: stored.timestamp }]);
  });

  it('refuses a forged row that reuses a stored event id, whatever its month (app role)', async () => {
    const eventId = randomUUID();
    await t.http
      .post(BULK)
      .send({ entries: [bulkEntry({ eventId })] })
      .expect(200);
    // The app's own role inserting directly: the trigger skips the duplicate.
    const app = new Pool({ connectionString: t.appDatabaseUrl, max: 1 });
    try {
      const res = await app.query(
        `INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id)
         VALUES ($1, $2, 'mallory', 'CREATE', 'ACTION_LOG', '1')`,
        [eventId, monthStart(1).toISOString()],
      );
      expect(res.rowCount).toBe(0);
    } finally {
      await app.end();
    }
    expect(await t.entries(`event_id = $1`, [eventId])).toHaveLength(1);
  });
});

describe('Retention: archive, purge and legal holds (e2e)', () => {
  let t: TestApp;
  let dir: string;
  let retention: AuditRetentionService;
  const RETENTION_DAYS = 40;
  /** Three months back: expired under a 40-day retention. Two: not yet, when today is early. */
  const old = monthStart(-3);
  const older = monthStart(-4);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-archive-'));
    t = await createTestApp({
      env: {
        RATE_LIMIT_MAX: '0',
        AUDIT_RETENTION_DAYS: String(RETENTION_DAYS),
        AUDIT_ARCHIVE_DIR: dir,
        AUDIT_RETENTION_INTERVAL_MS: '0',
        // Entries are chained when a test says so (t.seal()), never behind its back.
        AUDIT_SEAL_INTERVAL_MS: '0',
      },
    });
    retention = t.app.get(AuditRetentionService);
  });
  beforeEach(async () => {
    await t.truncate('action_log', 'audit_outbox');
    await t.db.query(`TRUNCATE audit_legal_holds`);
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Entries written straight into old months (the API refuses times past the retention). */
  async function seedMonth(start: Date, n: number, entityType = 'MCP_DEFINITION'): Promise<void> {
    await t.db.query(`SELECT audit_ensure_partitions($1, $1)`, [start.toISOString()]);
    await t.db.query(
      `INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
         details)
       SELECT gen_random_uuid(), $1::timestamptz + g * interval '1 minute', 'old-' || g, 'UPDATE',
         $3, g::text, jsonb_build_object('g', g)
       FROM generate_series(1, $2) g`,
      [start.toISOString(), n, entityType],
    );
  }

  const attached = async (name: string) =>
    (await t.db.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [name])).rows[0]
      .present as boolean;

  it('archives an expired month to gzip NDJSON with its manifest, then drops it, and says so in the log', async () => {
    await seedMonth(old, 250);
    await t.http
      .post(BULK)
      .send({ entries: [bulkEntry()] })
      .expect(200); // this month: kept
    await t.seal();
    const { rows: chained } = await t.db.query(
      `SELECT c.seq::text, encode(c.hash, 'hex') AS hash FROM action_log_chain c
       JOIN action_log l ON l.id = c.entry_id WHERE l.actor_id LIKE 'old-%' ORDER BY c.seq`,
    );
    expect(chained).toHaveLength(250);
    const before = await t.db.query(`SELECT count(*)::int AS n FROM action_log`);

    const pass = await retention.run();
    expect(pass).toMatchObject({ ran: true, archived: [partitionName(old)], kept: [] });
    expect(pass.purged).toEqual([partitionName(old)]);
    expect(await attached(partitionName(old))).toBe(false);
    const after = await t.db.query(`SELECT count(*)::int AS n FROM action_log`);
    expect(after.rows[0].n).toBe(before.rows[0].n - 250 + 2); // + the archive and purge entries

    const gz = await readFile(join(dir, `${partitionName(old)}.ndjson.gz`));
    const manifest = JSON.parse(
      await readFile(join(dir, `${partitionName(old)}.manifest.json`), 'utf8'),
    ) as ArchiveManifest;
    const lines = gunzipSync(gz).toString('utf8').trim().split('\n');
    expect(lines).toHaveLength(250);
    const first = JSON.parse(lines[0]);
    expect(first).toMatchObject({ actorId: 'old-1', seq: chained[0].seq, hash: chained[0].hash });
    expect(manifest).toMatchObject({
      partition: partitionName(old),
      from: old.toISOString(),
      rowCount: 250,
      sha256: createHash('sha256').update(gz).digest('hex'),
      firstSeq: chained[0].seq,
      firstHash: chained[0].hash,
      lastSeq: chained[249].seq,
      lastHash: chained[249].hash,
      seqRanges: [[chained[0].seq, chained[249].seq]],
    });
    // The purged event ids are forgotten with their entries.
    const { rows: ids } = await t.db.query(
      `SELECT count(*)::int AS n FROM action_log_event_ids WHERE entry_time < $1`,
      [monthStart(-2).toISOString()],
    );
    expect(ids[0].n).toBe(0);

    const archiveEntries = await t.entries(
      `entity_type IN ('ACTION_LOG_ARCHIVE', 'ACTION_LOG_PARTITION')`,
    );
    expect(
      archiveEntries.map((e) => [e.actor_id, e.action_type, e.entity_type, e.entity_id]),
    ).toEqual([
      ['system', 'CREATE', 'ACTION_LOG_ARCHIVE', partitionName(old)],
      ['system', 'DELETE', 'ACTION_LOG_PARTITION', partitionName(old)],
    ]);
    expect(archiveEntries[0].details).toMatchObject({ rowCount: 250, sha256: manifest.sha256 });
    expect(archiveEntries[1].details).toMatchObject({ rows: 250 });

    // The chain still verifies across the purged positions (their hashes stay in the chain).
    await t.seal();
    const verify = await t.http.get('/api/v1/action-logs/verify').expect(200);
    expect(verify.body).toMatchObject({ ok: true, archived: 250, firstInvalid: null });

    // Offline, an auditor verifies the whole chain from the archive plus an export of the rest.
    const exported = await t.http.get('/api/v1/action-logs/export?format=ndjson').expect(200);
    const exportFile = join(dir, 'rest.ndjson');
    await writeFile(exportFile, exported.text);
    const keyFile = join(dir, 'key.jwk');
    await writeFile(
      keyFile,
      JSON.stringify((await t.http.get('/api/v1/action-logs/public-key').expect(200)).body),
    );
    const offline = await promisify(execFile)(
      process.execPath,
      [
        resolve('dist/src/modules/auditing/chain/verify-cli.js'),
        '--export',
        join(dir, `${partitionName(old)}.ndjson.gz`),
        '--export',
        exportFile,
        '--checkpoints',
        t.checkpointFile,
        '--public-key',
        keyFile,
      ],
      { env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } },
    );
    expect(JSON.parse(offline.stdout)).toMatchObject({ ok: true, firstInvalid: null });
    expect(JSON.parse(offline.stdout).checked).toBeGreaterThanOrEqual(251);

    // A purge is not a cover for deleting: an entry gone without an archive is still caught.
    const { rows: victim } = await t.db.query(
      `SELECT l.id, c.seq::text FROM action_log l JOIN action_log_chain c ON c.entry_id = l.id
       WHERE l.actor_id = 'importer'`,
    );
    const client = await t.db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL session_replication_role = replica`);
      await client.query(`DELETE FROM action_log WHERE id = $1`, [victim[0].id]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const tampered = await t.http.get('/api/v1/action-logs/verify').expect(200);
    expect(tampered.body).toMatchObject({
      ok: false,
      firstInvalid: { seq: victim[0].seq, reason: expect.stringMatching(/was deleted/) },
    });
  });

  it('keeps a month a legal hold covers (filter), until the hold is released', async () => {
    await seedMonth(older, 20, 'WORKFLOW_RUN');
    await seedMonth(old, 20);
    await t.seal();
    const hold = await t.http
      .post(HOLDS)
      .set('X-User-ID', 'counsel')
      .send({ reason: 'Case 17: workflow runs', filter: { entityType: 'WORKFLOW_RUN' } })
      .expect(201);
    expect(hold.body).toMatchObject({
      reason: 'Case 17: workflow runs',
      filter: { entityType: 'WORKFLOW_RUN' },
      createdBy: 'counsel',
      releasedAt: null,
    });

    const held = await retention.run();
    expect(held.purged).toEqual([partitionName(old)]); // no WORKFLOW_RUN entry in it
    expect(held.kept).toEqual([
      { partition: partitionName(older), reason: `legal hold ${hold.body.id}` },
    ]);
    expect(await attached(partitionName(older))).toBe(true);

    const released = await t.http
      .delete(`${HOLDS}/${hold.body.id}`)
      .set('X-User-ID', 'counsel')
      .expect(200);
    expect(released.body).toMatchObject({ id: hold.body.id, releasedBy: 'counsel' });
    expect(released.body.releasedAt).toEqual(expect.any(String));
    const list = await t.http.get(HOLDS).expect(200);
    expect(list.body.map((h: { id: string }) => h.id)).toEqual([hold.body.id]);

    const after = await retention.run();
    expect(after.purged).toEqual([partitionName(older)]);
    const holdEntries = await t.entries(`entity_type = 'LEGAL_HOLD'`);
    expect(holdEntries.map((e) => [e.actor_id, e.action_type, e.entity_id])).toEqual([
      ['counsel', 'CREATE', hold.body.id],
      ['counsel', 'DELETE', hold.body.id],
    ]);
  });

  it('keeps a month a time-range hold overlaps', async () => {
    await seedMonth(old, 5);
    await t.seal();
    await t.http
      .post(HOLDS)
      .send({
        reason: 'Audit of that week',
        from: new Date(old.getTime() + 2 * DAY).toISOString(),
        to: new Date(old.getTime() + 9 * DAY).toISOString(),
      })
      .expect(201);
    const pass = await retention.run();
    expect(pass.purged).toEqual([]);
    expect(pass.kept.map((k) => k.partition)).toEqual([partitionName(old)]);
  });

  it('keeps a month with entries not chained yet, or still pending in the outbox', async () => {
    await seedMonth(old, 5);
    const unsealed = await retention.run();
    expect(unsealed.kept).toEqual([
      { partition: partitionName(old), reason: 'entries not chained yet' },
    ]);
    await t.seal();
    await t.db.query(
      `INSERT INTO audit_outbox (event_id, occurred_at, entry) VALUES (gen_random_uuid(), $1, '{}')`,
      [new Date(old.getTime() + DAY).toISOString()],
    );
    const pending = await retention.run();
    expect(pending.kept).toEqual([
      {
        partition: partitionName(old),
        reason: 'entries of that time still pending in the outbox',
      },
    ]);
    expect(await attached(partitionName(old))).toBe(true);
  });

  it('runs one instance at a time: two passes at once archive and purge a month once', async () => {
    await seedMonth(old, 30);
    await t.seal();
    const archives = async () =>
      (
        await t.db.query(`SELECT count(*)::int AS n FROM audit_archives WHERE partition = $1`, [
          partitionName(old),
        ])
      ).rows[0].n as number;
    const archivedBefore = await archives();
    const other = await createTestApp({
      databaseUrl: t.databaseUrl,
      env: {
        AUDIT_RETENTION_DAYS: String(RETENTION_DAYS),
        AUDIT_ARCHIVE_DIR: dir,
        AUDIT_RETENTION_INTERVAL_MS: '0',
        AUDIT_SEAL_INTERVAL_MS: '0',
      },
    });
    try {
      const passes = await Promise.all([
        retention.run(),
        other.app.get(AuditRetentionService).run(),
      ]);
      expect(passes.flatMap((p) => p.purged)).toEqual([partitionName(old)]);
      expect(passes.flatMap((p) => p.archived)).toEqual([partitionName(old)]);
    } finally {
      await other.close();
    }
    // Earlier tests archived that month too (each time it was seeded again): one more now.
    expect(await archives()).toBe(archivedBefore + 1);
  });

  it('removes nothing when the archive cannot be written, and says why', async () => {
    await seedMonth(old, 10);
    await t.seal();
    // A file where the directory should be: the archive cannot be created.
    const blocked = join(dir, 'not-a-directory');
    await writeFile(blocked, 'x');
    const other = await createTestApp({
      databaseUrl: t.databaseUrl,
      env: {
        AUDIT_RETENTION_DAYS: String(RETENTION_DAYS),
        AUDIT_ARCHIVE_DIR: blocked,
        AUDIT_RETENTION_INTERVAL_MS: '0',
        AUDIT_SEAL_INTERVAL_MS: '0',
      },
    });
    try {
      await expect(other.app.get(AuditRetentionService).run()).rejects.toMatchObject({
        code: expect.stringMatching(/^(EEXIST|ENOTDIR)$/),
      });
    } finally {
      await other.close();
    }
    expect(await attached(partitionName(old))).toBe(true);
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM ${partitionName(old)}`);
    expect(rows[0].n).toBe(10);
    // The next pass that can write finishes the job.
    expect((await retention.run()).purged).toEqual([partitionName(old)]);
  });

  it('refuses imports older than the retention period, naming the entry', async () => {
    const res = await t.http
      .post(BULK)
      .send({
        entries: [
          bulkEntry(),
          bulkEntry({ timestamp: new Date(Date.now() - (RETENTION_DAYS + 1) * DAY).toISOString() }),
        ],
      })
      .expect(400);
    expect(res.body.message).toEqual(
      expect.arrayContaining([expect.stringMatching(/^entries\[1\]\.timestamp: .*retention/)]),
    );
  });

  it('answers bad holds with 400 and unknown ones with 404; only auditors place them', async () => {
    await t.http.post(HOLDS).send({}).expect(400);
    await t.http
      .post(HOLDS)
      .send({ reason: 'x', from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' })
      .expect(400);
    await t.http
      .post(HOLDS)
      .send({ reason: 'x', filter: { entityType: 'lower-case' } })
      .expect(400);
    await t.http
      .post(HOLDS)
      .send({ reason: 'x', filter: { details: 'text' } })
      .expect(400);
    await t.http.delete(`${HOLDS}/${randomUUID()}`).expect(404);
    await t.http.delete(`${HOLDS}/not-a-uuid`).expect(400);
    await t.http.post(HOLDS).set('X-User-Roles', 'editor').send({ reason: 'x' }).expect(403);
  });
});
