import { escapeLiteral } from 'pg';
import { DataSource } from 'typeorm';
import { SEAL_CANDIDATES_SQL, SEALER_LOCK } from '@/modules/auditing/chain/chain-sealer.service';
import { ActionLogQueryService } from '@/modules/auditing/query/action-log-query.service';
import { SCAN_BUDGET } from '@/modules/auditing/query/action-log.search';
import { createTestApp, type TestApp } from './helpers/test-app';

/** Seeded entries: well above SCAN_BUDGET, so a walk of the whole log cannot pass for bounded. */
const ROWS = 60_000;

/**
 * 60k entries over 60k seconds, newest first by g: 500 actors, 4 entity types, DELETE rare
 * (1 in 50), every 100th a FAILED status in details, one request per 3 entries, one
 * correlation per 10, rejected attempts 1 in 40, auditors on 1 in 7.
 */
const SEED = `
  INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
    details, request_id, correlation_id, outcome, status_code, actor_roles)
  SELECT gen_random_uuid(), now() - g * interval '1 second', 'user-' || (g % 500),
    CASE WHEN g % 50 = 0 THEN 'DELETE' ELSE (ARRAY['READ', 'CREATE', 'UPDATE'])[g % 3 + 1] END,
    (ARRAY['MCP_DEFINITION', 'MCP_VERSION', 'WORKFLOW_DEFINITION', 'WORKFLOW_RUN'])[g % 4 + 1],
    (g % 5000)::text,
    jsonb_build_object('status', CASE WHEN g % 100 = 0 THEN 'FAILED' ELSE 'OK' END, 'n', g),
    'req-' || (g / 3), 'corr-' || (g / 10),
    CASE WHEN g % 40 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END,
    CASE WHEN g % 40 = 0 THEN 409 ELSE 200 END,
    CASE WHEN g % 7 = 0 THEN ARRAY['auditor'] ELSE ARRAY['editor'] END
  FROM generate_series(1, ${ROWS}) g`;

/** Each filter with a value that matches many entries and one that matches few or none. */
const FILTERS: Record<string, [many: string, none: string]> = {
  actorId: ['user-7', 'user-nobody'],
  actionType: ['UPDATE', 'DELETE'], // DELETE: few (1 in 50)
  entityType: ['WORKFLOW_RUN', 'ACTION_LOG'],
  entityId: ['42', 'no-such-entity'],
  requestId: ['req-100', 'req-none'],
  correlationId: ['corr-100', 'corr-none'],
  outcome: ['SUCCESS', 'DENIED'],
  statusCode: ['200', '418'],
  actorRole: ['editor', 'viewer'],
  details: ['{"status":"OK"}', '{"status":"LOST"}'],
  from: [new Date(Date.now() - 86_400_000).toISOString(), '2100-01-01T00:00:00.000Z'],
  to: [new Date(Date.now() + 60_000).toISOString(), '2000-01-01T00:00:00.000Z'],
};

type Plan = Record<string, unknown> & { Plans?: Plan[]; 'Index Name'?: string };

/** Every node of a plan that reads action_log (heap or one of its indexes). */
function logNodes(plan: Plan): Plan[] {
  // The chain link's lookups (one per returned entry, by its unique key) are not the search.
  const index = plan['Index Name'] ?? '';
  // The log is partitioned by month: its partitions are action_log_YYYY_MM.
  const relation = (plan['Relation Name'] as string | undefined) ?? '';
  const own =
    relation === 'action_log' ||
    /^action_log_\d{4}_\d{2}$/.test(relation) ||
    (index.startsWith('action_log') && !index.startsWith('action_log_chain'))
      ? [plan]
      : [];
  return [...own, ...(plan.Plans ?? []).flatMap(logNodes)];
}

/** Entries a node looked at: those it returned plus those its filter threw away. */
const looked = (n: Plan): number =>
  (Number(n['Actual Rows']) +
    Number(n['Rows Removed by Filter'] ?? 0) +
    Number(n['Rows Removed by Index Recheck'] ?? 0)) *
  Number(n['Actual Loops'] ?? 1);

describe('Action log search at scale (e2e)', () => {
  let t: TestApp;
  let service: ActionLogQueryService;
  const parentIndex = new Map<string, string>();
  /** The plans (EXPLAIN ANALYZE) of every query the service ran since the last reset. */
  let plans: { sql: string; plan: Plan }[] = [];

  beforeAll(async () => {
    // The sealer stays off: chaining 60k seeded entries in the background is not what the plans
    // measured here are about (an entry's chain link is looked up by its own unique key).
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '0', AUDIT_SEAL_INTERVAL_MS: '0' } });
    await t.db.query(SEED);
    await t.db.query('VACUUM ANALYZE action_log');
    service = t.app.get(ActionLogQueryService);
    // A partition's index → the log's index it implements.
    const { rows: inherited } = await t.db.query<{ child: string; parent: string }>(`
      SELECT c.relname AS child, p.relname AS parent
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE c.relkind = 'i'`);
    for (const { child, parent } of inherited) parentIndex.set(child, parent);
    // Every query the search runs is explained (actually run, with buffers) on the side, with
    // the generic plan the service runs it with.
    const run = service.run.bind(service);
    service.run = async <R>(sql: string, params: unknown[], generic = false): Promise<R[]> => {
      if (!generic) {
        const { rows } = await t.db.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params);
        plans.push({ sql, plan: (rows[0]['QUERY PLAN'] as { Plan: Plan }[])[0].Plan });
        return run<R>(sql, params);
      }
      const values = params.map((v) =>
        typeof v === 'number' ? String(v) : escapeLiteral(String(v)),
      );
      const client = await t.db.connect();
      try {
        const results = (await client.query(
          [
            `PREPARE explained AS ${sql}`,
            'SET plan_cache_mode = force_generic_plan',
            `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE explained${values.length ? `(${values.join(', ')})` : ''}`,
            'RESET plan_cache_mode',
            'DEALLOCATE explained',
          ].join(';\n'),
        )) as unknown as { rows: Record<string, unknown>[] }[];
        const explained = results[2].rows[0]['QUERY PLAN'] as { Plan: Plan }[];
        plans.push({ sql, plan: explained[0].Plan });
      } finally {
        client.release();
      }
      return run<R>(sql, params, true);
    };
  });
  afterAll(() => t.close());

  const search = async (query: Record<string, string>) => {
    plans = [];
    const res = await t.http.get('/api/v1/action-logs').query(query).expect(200);
    return res;
  };

  /**
   * Fails with the combination and the offending node when a plan reads too much: no node may
   * scan the table, no ordered index walk may look at more than the window (SCAN_BUDGET
   * entries), and a query at most four windows (an entity type alone merges four ranges).
   */
  function assertBounded(query: Record<string, string>): void {
    expect(plans.length).toBeGreaterThan(0);
    for (const { plan } of plans) {
      let total = 0;
      for (const node of logNodes(plan)) {
        const context = `${JSON.stringify(query)}: ${String(node['Node Type'])} ${node['Index Name'] ?? ''}`;
        // A sequential scan that looked at nothing read an empty month (partition): free.
        const scanned = node['Node Type'] === 'Seq Scan' && looked(node) > 0;
        expect(`${context} ${scanned ? 'Seq Scan' : 'ok'}`).toBe(`${context} ok`);
        // The planner prefers a bitmap of a range (then a sort) to an ordered walk only when the
        // range holds a few windows at most: near the end of the log, or a rare containment.
        const bound = String(node['Node Type']).startsWith('Bitmap')
          ? 4 * SCAN_BUDGET
          : SCAN_BUDGET;
        expect([context, looked(node), looked(node) <= bound]).toEqual([
          context,
          looked(node),
          true,
        ]);
        if (!String(node['Node Type']).startsWith('Bitmap Index')) total += looked(node);
      }
      expect([JSON.stringify(query), total, total <= 4 * SCAN_BUDGET]).toEqual([
        JSON.stringify(query),
        total,
        true,
      ]);
    }
  }

  it('answers every combination of up to two filters (many, few or no matches) without reading the log end to end', async () => {
    const names = Object.keys(FILTERS);
    const combos: Record<string, string>[] = [{}];
    for (const [i, a] of names.entries()) {
      for (const va of FILTERS[a]) {
        combos.push({ [a]: va });
        for (const b of names.slice(i + 1)) {
          for (const vb of FILTERS[b]) combos.push({ [a]: va, [b]: vb });
        }
      }
    }
    expect(combos.length).toBeGreaterThan(250);
    for (const query of combos) {
      await search(query);
      assertBounded(query);
    }
  });

  it('answers the reported worst case (entityType + actionType, no match) from its index, reading nothing', async () => {
    const query = { entityType: 'WORKFLOW_RUN', actionType: 'DELETE' };
    // g % 4 = 3 (WORKFLOW_RUN) and g % 50 = 0 (DELETE) never meet: g would be odd and even.
    const res = await search(query);
    expect(res.body).toEqual({ items: [], nextCursor: null });
    expect(plans).toHaveLength(1);
    const nodes = logNodes(plans[0].plan);
    // One index scan per monthly partition, each reading nothing; the month that holds the
    // seeded entries answers from the (entity_type, action_type, …) index.
    expect(nodes.map(looked)).toEqual(nodes.map(() => 0));
    expect(nodes.map((n) => parentIndex.get(String(n['Index Name'])))).toContain(
      'action_log_entity_type_action_idx',
    );
  });

  it('drives with the most selective index and checks the rest on a bounded window', async () => {
    // Three and four filters at once, including ones no index leads with.
    const combos: Record<string, string>[] = [
      { actorId: 'user-7', actionType: 'DELETE', statusCode: '418' },
      { entityType: 'MCP_VERSION', entityId: '41', outcome: 'SUCCESS', actorRole: 'viewer' },
      { actionType: 'UPDATE', details: '{"status":"FAILED"}', from: FILTERS.from[0] },
      { statusCode: '200', outcome: 'SUCCESS', actorRole: 'editor', details: '{"status":"OK"}' },
      { entityId: '7', statusCode: '409' },
    ];
    for (const query of combos) {
      await search(query);
      assertBounded(query);
    }
  });

  it('pages through a sparse residual filter with short pages and a cursor, missing nothing', async () => {
    // statusCode is in no index: 1,500 of 60,000 entries (every 40th) match.
    const seen: string[] = [];
    let cursor: string | undefined;
    let requests = 0;
    do {
      const res = await search({ statusCode: '409', limit: '200', ...(cursor ? { cursor } : {}) });
      assertBounded({ statusCode: '409' });
      expect(res.body.items.length).toBeLessThanOrEqual(200);
      seen.push(...res.body.items.map((e: { id: string }) => e.id));
      cursor = res.body.nextCursor ?? undefined;
      requests++;
    } while (cursor && requests < 100);
    expect(cursor).toBeUndefined();
    const { rows } = await t.db.query(
      `SELECT id::text FROM action_log WHERE status_code = 409 ORDER BY "timestamp" DESC, id DESC`,
    );
    expect(seen).toEqual(rows.map((r: { id: string }) => r.id));
  });

  describe('?details= (containment)', () => {
    it('finds entries whose details contain the object, from the GIN index when they are rare', async () => {
      const res = await search({ details: '{"n":12345}' });
      expect(res.body.items.map((e: { details: unknown }) => e.details)).toEqual([
        { status: 'OK', n: 12345 },
      ]);
      expect(res.body.nextCursor).toBeNull();
      assertBounded({ details: '{"n":12345}' });
      const indexes = plans.flatMap(({ plan }) =>
        logNodes(plan).map((n) => parentIndex.get(String(n['Index Name']))),
      );
      expect(indexes).toContain('action_log_details_idx');

      // 1 in 100: not rare enough for the GIN index; a window's worth, and a cursor to go on.
      const failed = await search({ details: '{"status":"FAILED"}', limit: '200' });
      expect(failed.body.items.length).toBeGreaterThan(20);
      expect(failed.body.nextCursor).toEqual(expect.any(String));
      expect(
        failed.body.items.every(
          (e: { details: { status: string } }) => e.details.status === 'FAILED',
        ),
      ).toBe(true);
    });

    it('refuses what is not a small JSON object with a 400', async () => {
      for (const details of ['{"status":', '[1,2]', '"FAILED"', '42', 'null', '{"a":"\\u0000"}']) {
        const res = await t.http.get('/api/v1/action-logs').query({ details }).expect(400);
        expect(res.body.message).toEqual(
          expect.arrayContaining([expect.stringMatching(/^details must be a JSON object/)]),
        );
      }
      const big = JSON.stringify({ k: 'x'.repeat(3000) });
      await t.http.get('/api/v1/action-logs').query({ details: big }).expect(400);
    });
  });

  describe('the response', () => {
    it('is the JSON PostgreSQL built, in the documented shape, with microsecond timestamps', async () => {
      const res = await t.http.get('/api/v1/action-logs').query({ limit: 2 }).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const first = res.body.items[0];
      // Background entries (this file's reads) may land any time: compare with the row itself.
      const { rows } = await t.db.query(`SELECT * FROM action_log WHERE id = $1`, [first.id]);
      expect(Object.keys(first)).toEqual([
        'id',
        'eventId',
        'timestamp',
        'actorId',
        'actionType',
        'entityType',
        'entityId',
        'details',
        'requestId',
        'correlationId',
        'ip',
        'userAgent',
        'method',
        'path',
        'outcome',
        'statusCode',
        'actorRoles',
        'seq',
        'hash',
        'hashVersion',
      ]);
      expect(first).toMatchObject({
        id: String(rows[0].id),
        eventId: rows[0].event_id,
        actorId: rows[0].actor_id,
        details: rows[0].details,
        statusCode: rows[0].status_code,
        actorRoles: rows[0].actor_roles,
        ip: rows[0].ip,
      });
      expect(first.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(typeof res.body.nextCursor).toBe('string');
      const next = await t.http
        .get('/api/v1/action-logs')
        .query({ limit: 2, cursor: res.body.nextCursor })
        .expect(200);
      expect(next.body.items[0].id).not.toBe(res.body.items[1].id);
    });
  });

  describe('GET /action-logs/:id (an entry never changes)', () => {
    it('sends a strong ETag and an immutable private lifetime; If-None-Match gets 304 without a body', async () => {
      const { rows } = await t.db.query(`SELECT id::text FROM action_log ORDER BY id LIMIT 2`);
      const res = await t.http.get(`/api/v1/action-logs/${rows[0].id}`).expect(200);
      expect(res.headers['cache-control']).toBe('private, max-age=31536000, immutable');
      const etag = res.headers.etag;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
      expect(res.body.id).toBe(rows[0].id);

      const again = await t.http
        .get(`/api/v1/action-logs/${rows[0].id}`)
        .set('If-None-Match', etag)
        .expect(304);
      expect(again.text ?? '').toBe('');
      expect(again.headers.etag).toBe(etag);
      await t.http
        .get(`/api/v1/action-logs/${rows[0].id}`)
        .set('If-None-Match', `"other", W/${etag}`)
        .expect(304);

      const other = await t.http
        .get(`/api/v1/action-logs/${rows[1].id}`)
        .set('If-None-Match', etag)
        .expect(200);
      expect(other.headers.etag).not.toBe(etag);
      // The ETag is the body's: the same bytes, the same tag.
      const repeat = await t.http.get(`/api/v1/action-logs/${rows[0].id}`).expect(200);
      expect(repeat.headers.etag).toBe(etag);
      expect(repeat.text).toBe(res.text);
    });

    it('answers an unknown entry with 404 and no cache headers', async () => {
      const res = await t.http.get('/api/v1/action-logs/999999999').expect(404);
      expect(res.headers.etag).toBeUndefined();
      expect(res.headers['cache-control'] ?? '').not.toMatch(/immutable/);
    });
  });

  it("reads only what the sealer chains next, not the log's (tx, id) index end to end", async () => {
    // As if the sealer had chained all but the newest 10 seeded entries: in one transaction
    // that holds the sealer's lock (the app's sealer stays out) and sees one snapshot (entries
    // the app writes meanwhile stay out), rolled back.
    const client = await t.db.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEALER_LOCK]);
      await client.query(
        `UPDATE audit_chain_state SET (last_tx, last_id) =
           (SELECT tx, id FROM action_log ORDER BY tx DESC, id DESC OFFSET 10 LIMIT 1)`,
      );
      const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${SEAL_CANDIDATES_SQL}`, [
        '9223372036854775807',
        5000,
      ]);
      const plan = (rows[0]['QUERY PLAN'] as { Plan: Plan }[])[0].Plan;
      expect(plan['Actual Rows']).toBe(10);
      const read = logNodes(plan).reduce((sum, node) => sum + looked(node), 0);
      // 10 entries, each seen by its partition's scan and the merge above them.
      expect([read, read <= 100]).toEqual([read, true]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('looks up a rare containment over six months of history at a time, then goes on with a cursor', async () => {
    // A match 8 and 20 months back (partitions made for them), none in the newest window.
    const months = [8, 20].map((back) => {
      const d = new Date();
      return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 15)).toISOString();
    });
    for (const [i, at] of months.entries()) {
      await t.db.query(`SELECT audit_ensure_partitions($1, $1)`, [at]);
      // A month of 3,000 entries, one of them the match.
      await t.db.query(
        `INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type,
           entity_id, details)
         SELECT gen_random_uuid(), $1::timestamptz + g * interval '1 second', 'archivist',
           'CREATE', 'MCP_DEFINITION', CASE WHEN g = 1500 THEN $2 ELSE 'x' END,
           CASE WHEN g = 1500 THEN '{"probe":"old"}'::jsonb ELSE '{"status":"OK"}' END
         FROM generate_series(1, 3000) g`,
        [at, `old-${i}`],
      );
    }
    await t.db.query('ANALYZE action_log');
    const pageThrough = async (query: Record<string, string>) => {
      const found: string[] = [];
      const pages: number[] = [];
      let cursor: string | undefined;
      do {
        const res = await search({ ...query, ...(cursor ? { cursor } : {}) });
        assertBounded(query);
        found.push(...res.body.items.map((e: { entityId: string }) => e.entityId));
        pages.push(res.body.items.length);
        cursor = res.body.nextCursor ?? undefined;
      } while (cursor && pages.length < 10);
      return { found, pages, cursor };
    };
    // Months 0-5 back: nothing (a short page and a cursor); 6-11: the first; 12-17: nothing;
    // 18-23: the second, and no older entry: the end. A `to` in the future starts at now.
    const ranges: Record<string, string>[] = [{}, { to: '2100-01-01T00:00:00.000Z' }];
    for (const to of ranges) {
      expect(await pageThrough({ details: '{"probe":"old"}', ...to })).toEqual({
        found: ['old-0', 'old-1'],
        pages: [0, 1, 0, 1],
        cursor: undefined,
      });
    }
  });

  it('runs its queries without JIT (a big estimate would compile for ~0.5 s) or parallel workers (a generic plan started two, 13 ms for one entry)', async () => {
    const ds = t.app.get(DataSource);
    expect(await ds.query('SHOW jit')).toEqual([{ jit: 'off' }]);
    expect(await ds.query('SHOW max_parallel_workers_per_gather')).toEqual([
      { max_parallel_workers_per_gather: '0' },
    ]);
  });
});
