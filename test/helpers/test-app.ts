import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModuleMetadata } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Pool } from 'pg';
import TestAgent from 'supertest/lib/agent';
import { contractCheckedAgent } from './contract';
import { AppModule, type AppModuleOptions } from '@/app.module';
import { configureApp, createAdapter } from '@/bootstrap';
import { AuditBackgroundQueue, AuditRejections, ChainSealer } from '@/modules/auditing';
import { createTestDatabase, runtimeUrl } from '../setup/test-database';

export interface TestApp {
  app: NestFastifyApplication;
  http: TestAgent;
  /**
   * A direct connection to this file's database as the superuser, for assertions and fault
   * injection (the app itself runs as the run's runtime role, see `appDatabaseUrl`).
   */
  db: Pool;
  /** The superuser's URL of this file's database (migrations, restarts, CLIs). */
  databaseUrl: string;
  /** What the app's pool connects with: the runtime role, or `databaseUrl` with `oneRole`. */
  appDatabaseUrl: string;
  /**
   * Stores the entries written in the background (reads of the trail, rejected attempts),
   * closing the open flood windows first (their summaries included). Resolves once stored.
   */
  flushAudit(): Promise<void>;
  /** The action-log rows matching `where` (SQL), in the log's order, after `flushAudit()`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows are asserted on freely
  entries(where?: string, params?: unknown[]): Promise<any[]>;
  /** Empties the tables the tests write (between tests), after `flushAudit()`. */
  truncate(...tables: string[]): Promise<void>;
  /**
   * Runs DDL on the log (a test's fault trigger) as the superuser, after `flushAudit()`, again
   * when it lost a deadlock: DDL on the partitioned log locks every month, and the app's
   * background writers may hold one of them.
   */
  ddl(sql: string): Promise<void>;
  /** Chains every stored entry (hash chain), after `flushAudit()`; resolves once none is unsealed. */
  seal(): Promise<void>;
  /** This app's checkpoint file (AUDIT_CHECKPOINT_FILE: one per app). */
  checkpointFile: string;
  close(): Promise<void>;
}

export interface TestAppOptions extends AppModuleOptions {
  /** Extra controllers/providers (e.g. a small audited controller for tests). */
  metadata?: ModuleMetadata;
  bodyLimit?: number;
  /** REQUEST_TIMEOUT_MS of the adapter (30 s by default, as in production). */
  requestTimeoutMs?: number;
  /** Reuse an existing database (restart scenarios) instead of a fresh copy of the template. */
  databaseUrl?: string;
  /** The app connects as the superuser too (one URL for migrations and the service). */
  oneRole?: boolean;
  env?: Record<string, string>;
}

/** The real AppModule on a real PostgreSQL (a fresh migrated database per call). */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.databaseUrl
    ? { url: options.databaseUrl, drop: () => Promise.resolve() }
    : await createTestDatabase();
  // Migrations as the superuser, the service as the run's runtime role (when on its server).
  const appDatabaseUrl = (!options.oneRole && runtimeUrl(database.url)) || database.url;
  const savedEnv: Record<string, string | undefined> = {};
  // Quiet by default (tests provoke errors on purpose); TEST_LOG_LEVEL=debug to see everything.
  const logLevel = process.env.TEST_LOG_LEVEL ?? 'fatal';
  // Each app signs its own checkpoints into its own file (a shared one would mix databases).
  const checkpointFile = join(tmpdir(), `mcp-checkpoints-${process.pid}-${randomUUID()}.ndjson`);
  const appEnv = {
    LOG_LEVEL: logLevel,
    AUDIT_CHECKPOINT_FILE: checkpointFile,
    // Runs stay PENDING for the specs that move them by hand; executor specs turn it on.
    WORKFLOW_EXECUTOR: 'off',
    // No retention pass at boot; the retention specs run theirs by hand.
    AUDIT_RETENTION_INTERVAL_MS: '0',
    ...options.env,
  };
  for (const [k, v] of Object.entries(appEnv)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppModule.forRoot({
          databaseUrl: appDatabaseUrl,
          migrationUrl: database.url,
          logStream: options.logStream,
          entities: options.entities,
        }),
        ...(options.metadata?.imports ?? []),
      ],
      controllers: options.metadata?.controllers ?? [],
      providers: options.metadata?.providers ?? [],
    }).compile();
    const app = moduleRef.createNestApplication<NestFastifyApplication>(
      createAdapter({
        bodyLimit: options.bodyLimit ?? 1024 * 1024,
        requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
        idleTimeoutMs: options.requestTimeoutMs ? options.requestTimeoutMs * 2 : 120_000,
      }),
      { bufferLogs: true },
    );
    // A start that fails (e.g. a refused configuration) must not leave its pool and timers.
    await configureApp(app).catch(async (error: unknown) => {
      await app.close().catch(() => undefined);
      throw error;
    });
    const db = new Pool({ connectionString: database.url, max: 4 });
    // An idle connection dropped by the server (e.g. when another app's teardown force-drops
    // its database) is not a test failure; queries on a broken connection still fail loudly.
    db.on('error', () => undefined);
    const flushAudit = async () => {
      app.get(AuditRejections).closeWindows(Number.POSITIVE_INFINITY);
      await app.get(AuditBackgroundQueue).flush();
    };
    const seal = async () => {
      await flushAudit();
      // Another test's transaction still open on the same server holds the horizon back for
      // a moment: go again until nothing is left.
      for (let attempt = 0; ; attempt++) {
        await app.get(ChainSealer).seal();
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM action_log l
           WHERE NOT EXISTS (SELECT 1 FROM action_log_chain c WHERE c.entry_id = l.id)`,
        );
        if (rows[0].n === 0) return;
        if (attempt > 400) throw new Error(`${rows[0].n} entries still unsealed`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    return {
      app,
      // Every answer is held to the OpenAPI document (see contract.ts for what is exempt).
      http: contractCheckedAgent(app),
      db,
      databaseUrl: database.url,
      appDatabaseUrl,
      flushAudit,
      seal,
      checkpointFile: appEnv.AUDIT_CHECKPOINT_FILE,
      entries: async (where = 'true', params = []) => {
        await flushAudit();
        const { rows } = await db.query(
          `SELECT * FROM action_log WHERE ${where} ORDER BY "timestamp", id`,
          params,
        );
        return rows;
      },
      ddl: async (sql) => {
        await flushAudit();
        for (let attempt = 1; ; attempt++) {
          try {
            await db.query(sql);
            return;
          } catch (error) {
            if ((error as { code?: string }).code !== '40P01' || attempt >= 5) throw error;
          }
        }
      },
      truncate: async (...tables) => {
        // Nothing of the previous test may land in the next one.
        await flushAudit();
        if (!tables.length) return;
        // The chain goes with the log it covers.
        const all = tables.includes('action_log')
          ? [...tables, 'action_log_event_ids', 'action_log_chain', 'audit_checkpoints']
          : tables;
        // The superuser, the test's tool, steps past the append-only triggers (replica mode
        // fires no ordinary trigger) for this one transaction.
        const client = await db.connect();
        try {
          await client.query('BEGIN');
          await client.query(`SET LOCAL session_replication_role = replica`);
          await client.query(
            `TRUNCATE ${all.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY CASCADE`,
          );
          if (tables.includes('action_log'))
            await client.query(`UPDATE audit_chain_state SET last_tx = 0, last_id = 0`);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
        if (tables.includes('action_log')) await rm(appEnv.AUDIT_CHECKPOINT_FILE, { force: true });
      },
      close: async () => {
        await app.close();
        await db.end();
        if (!options.databaseUrl) await database.drop();
        await rm(appEnv.AUDIT_CHECKPOINT_FILE, { force: true });
      },
    };
  } finally {
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
