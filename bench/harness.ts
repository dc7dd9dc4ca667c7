import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { loadEnv } from '@/config/env';
import { dataSourceOptions } from '@/database/data-source-options';
import { startEmbeddedPostgres } from '@/database/embedded-postgres';
import { generateSigningKeyPair } from '@/modules/auditing';

/** What the benchmarks share: a fresh migrated database, and the app as a child process. */

/** BENCH_DURATION (s per round, default 10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50). */
export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface BenchDatabase {
  /** The fresh database's URL. */
  url: string;
  name: string;
  /** Drops it (and stops the embedded server when there is one). */
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database on DATABASE_URL's server (or a throwaway embedded one), seeded by
 * `seed` before any app touches it.
 */
export async function createBenchDatabase(
  prefix: string,
  seed: (ds: DataSource) => Promise<void>,
): Promise<BenchDatabase> {
  let serverUrl = loadEnv().DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let tempDir: string | undefined;
  if (!serverUrl) {
    tempDir = await mkdtemp(join(tmpdir(), 'mcp-bench-'));
    const pg = await startEmbeddedPostgres({ dataDir: join(tempDir, 'pg'), ephemeral: true });
    serverUrl = pg.url;
    stopEmbedded = () => pg.stop();
  }
  const name = `${prefix}_${Date.now().toString(36)}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const ds = new DataSource(dataSourceOptions({ url: url.toString(), entities: false }));
  await ds.initialize();
  await ds.runMigrations();
  await seed(ds);
  await ds.destroy();
  const admin = serverUrl;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      await stopEmbedded?.();
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    },
  };
}

/** The one secrets key of a bench run (production mode requires one). */
export const SECRETS_KEY = process.env.MCP_SECRETS_KEY ?? randomBytes(32).toString('base64');

/** The checkpoint signing key of a bench run (production mode requires one), made once. */
let signingKeyDir: Promise<string> | undefined;
export function benchSigningKeyDir(): Promise<string> {
  signingKeyDir ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-bench-keys-'));
    await writeFile(join(dir, 'audit-signing.key'), generateSigningKeyPair().privatePem, {
      mode: 0o600,
    });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return signingKeyDir;
}

/**
 * Starts `bench/server.js` (the real app plus the bench endpoints) in production mode on
 * `databaseUrl` and resolves once it listens. Measures auditing, not identity: trusted
 * headers, and no rate limit to hit.
 */
export async function startBenchServer(
  databaseUrl: string,
  port: number,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<ChildProcess> {
  const keys = await benchSigningKeyDir();
  // BENCH_SERVER_ARGS: node options for the app process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`.
  const extra = process.env.BENCH_SERVER_ARGS?.split(' ').filter(Boolean) ?? [];
  const server = spawn(process.execPath, [...extra, ...nodeArgs, join(__dirname, 'server.js')], {
    env: {
      AUDIT_SIGNING_KEY_FILE: join(keys, 'audit-signing.key'),
      AUDIT_CHECKPOINT_FILE: join(keys, `checkpoints-${port}.ndjson`),
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      AUTH_MODE: 'header',
      AUTH_ALLOW_HEADER_MODE: 'true',
      RATE_LIMIT_MAX: '0',
      MCP_SECRETS_KEY: SECRETS_KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (l) => l === 'ready' && resolve());
    server.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return server;
}

export async function stopBenchServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
}
