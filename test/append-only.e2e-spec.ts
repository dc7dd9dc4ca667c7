import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Client, Pool } from 'pg';
import request from 'supertest';
import { AppModule } from '@/app.module';
import { configureApp, createAdapter } from '@/bootstrap';
import { embeddedUrl, isAlive, postmasterPid, startAppProcess } from './helpers/app-process';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '@/database/data-source-options';
import { createTestApp, type TestApp } from './helpers/test-app';
import {
  createTestDatabase,
  databaseUrl,
  runtimeUrl,
  SERVER_URL_VAR,
  withAdmin,
} from './setup/test-database';

const APPEND_ONLY = 'AU003';
const DENIED = '42501'; // insufficient_privilege

/** The SQLSTATE a statement fails with (undefined: it did not fail). */
async function failure(pool: Pool | Client, sql: string): Promise<string | undefined> {
  try {
    await pool.query(sql);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/**
 * The audit history cannot be rewritten: triggers refuse UPDATE, DELETE and TRUNCATE on
 * action_log for every role, and the service's own role (a member of `mcp_app`, not the owner)
 * has no right to try, nor to disable the triggers or drop the table.
 */
describe('Append-only action log and least privilege (e2e)', () => {
  let t: TestApp;
  /** A connection as the app's own role (what a compromised service could do). */
  let app: Pool;

  beforeAll(async () => {
    t = await createTestApp();
    app = new Pool({ connectionString: t.appDatabaseUrl, max: 2 });
    app.on('error', () => undefined);
  });
  afterAll(async () => {
    await app?.end();
    await t?.close();
  });

  async function someEntries(): Promise<void> {
    const created = await t.http
      .post('/api/v1/mcp-definitions')
      .set('X-User-ID', 'alice')
      .send({ name: `append-only-${Date.now()}`, transport: 'stdio', command: 'node' });
    expect(created.status).toBe(201);
    expect(await t.entries()).not.toHaveLength(0);
  }

  it('runs the app as a role that is neither superuser nor owner, and says so in /health', async () => {
    const { rows } = await app.query<{ user: string; superuser: boolean; owner: boolean }>(`
      SELECT current_user AS user, r.rolsuper AS superuser,
             pg_has_role(current_user, c.relowner, 'MEMBER') AS owner
      FROM pg_roles r, pg_class c
      WHERE r.rolname = current_user AND c.oid = 'action_log'::regclass`);
    expect(rows[0]).toMatchObject({ superuser: false, owner: false });
    expect(rows[0]?.user).toMatch(/^mcp_rt_/);

    const health = await t.http.get('/api/v1/health').expect(200);
    expect(health.body.info.database).toMatchObject({ status: 'up', leastPrivilege: true });
  });

  it('lets the app role insert and read entries (the audited write works as it)', async () => {
    await someEntries();
    const { rows } = await app.query(`SELECT count(*)::int AS n FROM action_log`);
    expect(rows[0].n).toBeGreaterThan(0);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of action_log to the app role', async () => {
    await someEntries();
    expect(await failure(app, `UPDATE action_log SET actor_id = 'mallory'`)).toBe(DENIED);
    expect(await failure(app, `DELETE FROM action_log`)).toBe(DENIED);
    expect(await failure(app, `TRUNCATE action_log`)).toBe(DENIED);
    expect(
      await failure(
        app,
        // The log's key is (id, timestamp) (it is partitioned by month): an existing row's.
        `INSERT INTO action_log (id, "timestamp", event_id, actor_id, action_type, entity_type, entity_id)
           SELECT id, "timestamp", gen_random_uuid(), 'mallory', 'CREATE', 'ACTION_LOG', '1'
           FROM action_log LIMIT 1
         ON CONFLICT (id, "timestamp") DO UPDATE SET actor_id = 'mallory'`,
      ),
    ).toBe(DENIED);
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM action_log
                                       WHERE actor_id = 'mallory'`);
    expect(rows[0].n).toBe(0);
  });

  it('refuses the app role every way around the triggers: disable, drop, replica mode, its own trigger', async () => {
    for (const sql of [
      `ALTER TABLE action_log DISABLE TRIGGER action_log_append_only`,
      `ALTER TABLE action_log DISABLE TRIGGER ALL`,
      `DROP TRIGGER action_log_append_only ON action_log`,
      `DROP TABLE action_log`,
      `ALTER TABLE action_log RENAME TO action_log_old`,
      `SET session_replication_role = replica`,
      `CREATE TRIGGER sneaky BEFORE INSERT ON action_log
         FOR EACH ROW EXECUTE FUNCTION reject_history_change()`,
      `CREATE OR REPLACE FUNCTION reject_history_change() RETURNS trigger
         LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
      `ALTER TABLE action_log OWNER TO CURRENT_USER`,
      `SET ROLE postgres`,
      `SET SESSION AUTHORIZATION postgres`,
    ]) {
      expect([sql, await failure(app, sql)]).toEqual([sql, DENIED]);
    }
    // A GRANT of what it does not hold only warns: it must change nothing.
    await app.query(`GRANT UPDATE ON action_log TO PUBLIC`);
    expect(await failure(app, `UPDATE action_log SET actor_id = 'mallory'`)).toBe(DENIED);
  });

  it('refuses UPDATE, DELETE and TRUNCATE to the owner and the superuser too, with the reason', async () => {
    await someEntries();
    for (const [sql, op] of [
      [`UPDATE action_log SET actor_id = 'mallory'`, 'UPDATE'],
      [`DELETE FROM action_log`, 'DELETE'],
      [`TRUNCATE action_log`, 'TRUNCATE'],
      // An upsert's update is an UPDATE too.
      [
        // The log's key is (id, timestamp) (it is partitioned by month): an existing row's.
        `INSERT INTO action_log (id, "timestamp", event_id, actor_id, action_type, entity_type, entity_id)
           SELECT id, "timestamp", gen_random_uuid(), 'mallory', 'CREATE', 'ACTION_LOG', '1'
           FROM action_log LIMIT 1
         ON CONFLICT (id, "timestamp") DO UPDATE SET actor_id = 'mallory'`,
        'UPDATE',
      ],
    ] as const) {
      await expect(t.db.query(sql)).rejects.toMatchObject({
        code: APPEND_ONLY,
        message: `action_log is append-only: ${op} is not allowed`,
      });
    }
    const { rows } = await t.db.query(`SELECT count(*)::int AS n,
                                              count(*) FILTER (WHERE actor_id = 'mallory')::int AS m
                                       FROM action_log`);
    expect(rows[0].n).toBeGreaterThan(0);
    expect(rows[0].m).toBe(0);
  });

  it('still refuses a role that was granted UPDATE/DELETE/TRUNCATE by mistake, and /health then says leastPrivilege: false', async () => {
    await someEntries();
    await t.db.query(`GRANT UPDATE, DELETE, TRUNCATE ON action_log TO mcp_app`);
    try {
      expect(await failure(app, `UPDATE action_log SET actor_id = 'mallory'`)).toBe(APPEND_ONLY);
      expect(await failure(app, `DELETE FROM action_log`)).toBe(APPEND_ONLY);
      expect(await failure(app, `TRUNCATE action_log`)).toBe(APPEND_ONLY);
      const health = await t.http.get('/api/v1/health').expect(200);
      expect(health.body.info.database).toMatchObject({ status: 'up', leastPrivilege: false });
    } finally {
      await t.db.query(`REVOKE UPDATE, DELETE, TRUNCATE ON action_log FROM mcp_app`);
    }
    const health = await t.http.get('/api/v1/health').expect(200);
    expect(health.body.info.database.leastPrivilege).toBe(true);
  });

  it('says leastPrivilege: false while a trigger is disabled (by the owner)', async () => {
    await t.db.query(`ALTER TABLE action_log DISABLE TRIGGER action_log_append_only`);
    try {
      const health = await t.http.get('/api/v1/health').expect(200);
      expect(health.body.info.database.leastPrivilege).toBe(false);
    } finally {
      await t.db.query(`ALTER TABLE action_log ENABLE TRIGGER action_log_append_only`);
    }
  });

  it('works with one URL (the superuser runs the app) and says leastPrivilege: false', async () => {
    const one = await createTestApp({ databaseUrl: t.databaseUrl, oneRole: true });
    try {
      expect(one.appDatabaseUrl).toBe(one.databaseUrl);
      const created = await one.http
        .post('/api/v1/mcp-definitions')
        .set('X-User-ID', 'alice')
        .send({ name: `one-url-${Date.now()}`, transport: 'stdio', command: 'node' })
        .expect(201);
      expect(await one.entries(`entity_id = $1`, [created.body.id])).toHaveLength(1);
      const health = await one.http.get('/api/v1/health').expect(200);
      expect(health.body.info.database).toMatchObject({ status: 'up', leastPrivilege: false });
    } finally {
      await one.close();
    }
  });
});

describe('The AppendOnlyAuditLog migration (e2e)', () => {
  it('comes off cleanly (triggers and grants gone, the role kept) and goes back on', async () => {
    const db = await createTestDatabase();
    const ds = new DataSource(dataSourceOptions({ url: db.url, entities: false }));
    await ds.initialize();
    try {
      const applied = async () =>
        (
          await ds.query<unknown[]>(`SELECT 1 FROM migrations WHERE name = $1`, [
            'AppendOnlyAuditLog1795900000000',
          ])
        ).length > 0;
      const state = async () =>
        (
          await ds.query<Record<string, unknown>[]>(`
            SELECT has_table_privilege('mcp_app', 'action_log', 'INSERT') AS insert,
                   has_table_privilege('mcp_app', 'action_log', 'UPDATE') AS update,
                   has_table_privilege('mcp_app', 'mcp_definitions', 'UPDATE') AS business,
                   (SELECT count(*)::int FROM pg_trigger
                     WHERE tgrelid = 'action_log'::regclass AND NOT tgisinternal
                       AND tgfoid = to_regprocedure('reject_history_change()')) AS triggers`)
        )[0];
      expect(await state()).toEqual({ insert: true, update: false, business: true, triggers: 2 });

      while (await applied()) await ds.undoLastMigration({ transaction: 'each' });
      expect(await state()).toEqual({ insert: false, update: false, business: false, triggers: 0 });
      await ds.query(`INSERT INTO action_log (event_id, actor_id, action_type, entity_type, entity_id)
                      VALUES (gen_random_uuid(), 'a', 'CREATE', 'ACTION_LOG', '1')`);
      await ds.query(`UPDATE action_log SET actor_id = 'b'`); // no trigger any more

      await ds.runMigrations({ transaction: 'each' });
      expect(await state()).toEqual({ insert: true, update: false, business: true, triggers: 2 });
      await expect(ds.query(`UPDATE action_log SET actor_id = 'c'`)).rejects.toMatchObject({
        code: APPEND_ONLY,
      });
    } finally {
      await ds.destroy();
      await db.drop();
    }
  });
});

/**
 * A DATABASE_URL deployment as the README sets it up: DATABASE_URL names the runtime role,
 * DATABASE_MIGRATION_URL the owner. On an empty database the owner creates everything and the
 * service, which could not, serves.
 */
describe('DATABASE_URL with DATABASE_MIGRATION_URL (e2e)', () => {
  const server = process.env[SERVER_URL_VAR]!;
  const name = `mcp_t_${process.env.MCP_TEST_RUN_ID}_twourls`;
  const ownerUrl = databaseUrl(server, name);
  let app: NestFastifyApplication | undefined;
  const saved = { ...process.env };

  beforeAll(async () => {
    await withAdmin(server, (c) => c.query(`CREATE DATABASE "${name}"`));
  });
  afterAll(async () => {
    await app?.close();
    process.env = saved;
    await withAdmin(server, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  });

  it('migrates an empty database as the owner and serves as the runtime role', async () => {
    Object.assign(process.env, {
      DATABASE_URL: runtimeUrl(ownerUrl),
      DATABASE_MIGRATION_URL: ownerUrl,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'fatal',
    });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot()] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(
      createAdapter({ bodyLimit: 1024 * 1024, requestTimeoutMs: 30_000, idleTimeoutMs: 120_000 }),
      { bufferLogs: true },
    );
    await configureApp(app);
    const http = request(app.getHttpServer());
    await http
      .post('/api/v1/mcp-definitions')
      .set('X-User-ID', 'alice')
      .send({ name: 'two-urls', transport: 'stdio', command: 'node' })
      .expect(201);
    const health = await http.get('/api/v1/health').expect(200);
    expect(health.body.info.database).toMatchObject({ status: 'up', leastPrivilege: true });

    const rows = await withAdmin(ownerUrl, async (c) => {
      const { rows } = await c.query(`
        SELECT pg_get_userbyid(relowner) AS owner,
               (SELECT count(*)::int FROM action_log) AS entries,
               (SELECT array_agg(DISTINCT usename::text) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'mcp-backend') AS users
        FROM pg_class WHERE oid = 'action_log'::regclass`);
      return rows;
    });
    expect(rows[0]).toEqual({
      owner: new URL(server).username,
      entries: 1,
      users: [process.env.MCP_TEST_RUNTIME_ROLE],
    });
  });
});

/**
 * `npm start` with no DATABASE_URL: the embedded superuser migrates, and the service connects
 * as `mcp_runtime` (in `mcp_app`), created with a password generated into the data dir's
 * parent, kept across restarts.
 */
describe('Embedded default: two roles created automatically (e2e, child process)', () => {
  let root: string;
  let dataDir: string;
  let child: Awaited<ReturnType<typeof startAppProcess>> | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcp-roles-'));
    dataDir = join(root, 'pg');
  });
  afterAll(async () => {
    if (child && child.child.exitCode === null) child.child.kill('SIGKILL');
    const orphan = await postmasterPid(dataDir);
    if (orphan && isAlive(orphan)) process.kill(orphan, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('migrates as the superuser, serves as mcp_runtime, and reports leastPrivilege: true', async () => {
    child = await startAppProcess(dataDir);
    expect(child.ready).toBe(true);
    const health = await fetch(`http://127.0.0.1:${child.port}/api/v1/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { info: { database: unknown } }).info.database).toMatchObject({
      status: 'up',
      leastPrivilege: true,
    });

    const admin = new Client({ connectionString: await embeddedUrl(child, dataDir) });
    await admin.connect();
    try {
      const { rows } = await admin.query<Record<string, unknown>>(`
        SELECT r.rolcanlogin AS login, r.rolsuper AS superuser,
               pg_has_role('mcp_runtime', 'mcp_app', 'MEMBER') AS member,
               (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'mcp_app') AS group_login,
               pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = 'action_log'::regclass)) AS owner,
               (SELECT array_agg(DISTINCT usename::text) FROM pg_stat_activity
                 WHERE application_name = 'mcp-backend') AS app_users
        FROM pg_roles r WHERE r.rolname = 'mcp_runtime'`);
      expect(rows[0]).toEqual({
        login: true,
        superuser: false,
        member: true,
        group_login: false,
        owner: 'postgres',
        app_users: ['mcp_runtime'],
      });
    } finally {
      await admin.end();
    }
    // The generated password is the owner's alone.
    expect((await stat(`${dataDir}.runtime-credentials`)).mode & 0o077).toBe(0);

    child.child.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });
});
