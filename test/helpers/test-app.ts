import type { ModuleMetadata } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Pool } from 'pg';
import TestAgent from 'supertest/lib/agent';
import { contractCheckedAgent } from './contract';
import { AppModule, type AppModuleOptions } from '@/app.module';
import { configureApp, createAdapter } from '@/bootstrap';
import { AuditBackgroundQueue, AuditRejections } from '@/modules/auditing';
import { createTestDatabase } from '../setup/test-database';

export interface TestApp {
  app: NestFastifyApplication;
  http: TestAgent;
  /** A direct connection to this file's database, for assertions and fault injection. */
  db: Pool;
  databaseUrl: string;
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
  env?: Record<string, string>;
}

/** The real AppModule on a real PostgreSQL (a fresh migrated database per call). */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.databaseUrl
    ? { url: options.databaseUrl, drop: () => Promise.resolve() }
    : await createTestDatabase();
  const savedEnv: Record<string, string | undefined> = {};
  // Quiet by default (tests provoke errors on purpose); TEST_LOG_LEVEL=debug to see everything.
  const logLevel = process.env.TEST_LOG_LEVEL ?? 'fatal';
  for (const [k, v] of Object.entries({ LOG_LEVEL: logLevel, ...options.env })) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppModule.forRoot({
          databaseUrl: database.url,
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
    return {
      app,
      // Every answer is held to the OpenAPI document (see contract.ts for what is exempt).
      http: contractCheckedAgent(app),
      db,
      databaseUrl: database.url,
      flushAudit,
      entries: async (where = 'true', params = []) => {
        await flushAudit();
        const { rows } = await db.query(
          `SELECT * FROM action_log WHERE ${where} ORDER BY "timestamp", id`,
          params,
        );
        return rows;
      },
      truncate: async (...tables) => {
        // Nothing of the previous test may land in the next one.
        await flushAudit();
        if (tables.length)
          await db.query(
            `TRUNCATE ${tables.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY CASCADE`,
          );
      },
      close: async () => {
        await app.close();
        await db.end();
        if (!options.databaseUrl) await database.drop();
      },
    };
  } finally {
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
