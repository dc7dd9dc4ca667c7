/**
 * `npm run bench`: the cost of auditing. Starts PostgreSQL (DATABASE_URL, or an embedded
 * one), a fresh database, and the app (NODE_ENV=production) with two identical endpoints
 * (one @Audited), then drives them with autocannon (loopback, 50 connections) in alternating
 * rounds and prints throughput and p99 latency of each, and their ratios.
 *
 * BENCH_DURATION (s per round, default 10), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (50).
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { loadEnv } from '@/config/env';
import { dataSourceOptions } from '@/database/data-source-options';
import { startEmbeddedPostgres } from '@/database/embedded-postgres';
import { BENCH_TABLE_SQL } from './bench.module';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PORT = 3900 + Math.floor(Math.random() * 90);

interface Sample {
  rps: number;
  p99: number;
  p50: number;
  errors: number;
  non2xx: number;
}

type Kind = 'audited' | 'unaudited' | 'transactional';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function fire(path: string, duration: number): Promise<Sample> {
  let n = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${PORT}${path}`,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { 'content-type': 'application/json', 'x-user-id': 'bench' },
    requests: [
      { setupRequest: (req) => ({ ...req, body: JSON.stringify({ name: `item-${n++}` }) }) },
    ],
  });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

async function main(): Promise<void> {
  let serverUrl = loadEnv().DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let tempDir: string | undefined;
  if (!serverUrl) {
    tempDir = await mkdtemp(join(tmpdir(), 'mcp-bench-'));
    const pg = await startEmbeddedPostgres({ dataDir: join(tempDir, 'pg'), ephemeral: true });
    serverUrl = pg.url;
    stopEmbedded = () => pg.stop();
  }
  const dbName = `mcp_bench_${Date.now().toString(36)}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${dbName}`));
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const ds = new DataSource(dataSourceOptions({ url: url.toString(), entities: false }));
  await ds.initialize();
  await ds.runMigrations();
  await ds.query(BENCH_TABLE_SQL);
  await ds.destroy();

  const server = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []),
      join(__dirname, 'server.js'),
    ],
    {
      env: {
        ...process.env,
        DATABASE_URL: url.toString(),
        PORT: String(PORT),
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (l) => l === 'ready' && resolve());
    server.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });

  try {
    console.log(`warm-up (${Math.min(DURATION, 5)} s each)…`);
    await fire('/api/v1/bench/unaudited', Math.min(DURATION, 5));
    await fire('/api/v1/bench/audited', Math.min(DURATION, 5));
    const samples: Record<Kind, Sample[]> = { audited: [], unaudited: [], transactional: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which goes first, so drift (autovacuum, table growth) hits both alike.
      const order: Kind[] =
        round % 2
          ? ['unaudited', 'transactional', 'audited']
          : ['audited', 'transactional', 'unaudited'];
      for (const kind of order) {
        const s = await fire(`/api/v1/bench/${kind}`, DURATION);
        samples[kind].push(s);
        console.log(
          `round ${round} ${kind.padEnd(13)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${s.p50} ms  p99 ${s.p99} ms  errors ${s.errors} non-2xx ${s.non2xx}`,
        );
      }
    }
    const summary = (kind: Kind) => ({
      rps: median(samples[kind].map((s) => s.rps)),
      p99: median(samples[kind].map((s) => s.p99)),
      p50: median(samples[kind].map((s) => s.p50)),
    });
    const a = summary('audited');
    const u = summary('unaudited');
    const tx = summary('transactional');
    const entries = await withClient(url.toString(), (c) =>
      c.query<{ n: string }>(
        `SELECT count(*) AS n FROM action_log WHERE entity_type = 'BENCH_ITEM'`,
      ),
    );
    const report = {
      date: new Date().toISOString(),
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      rounds: ROUNDS,
      unaudited: u,
      transactional: tx,
      audited: a,
      throughputRatio: Number((a.rps / u.rps).toFixed(3)),
      p99Ratio: Number((a.p99 / u.p99).toFixed(3)),
      throughputRatioVsTransactional: Number((a.rps / tx.rps).toFixed(3)),
      p99RatioVsTransactional: Number((a.p99 / tx.p99).toFixed(3)),
      auditEntriesWritten: Number(entries.rows[0].n),
    };
    console.log('\nmedian of rounds');
    console.log(`  unaudited POST  ${u.rps.toFixed(0)} req/s  p99 ${u.p99} ms`);
    console.log(`  unaudited POST in a transaction  ${tx.rps.toFixed(0)} req/s  p99 ${tx.p99} ms`);
    console.log(`  audited POST    ${a.rps.toFixed(0)} req/s  p99 ${a.p99} ms`);
    console.log(
      `  throughput ratio (audited / unaudited): ${report.throughputRatio}  (goal ≥ 0.85)`,
    );
    console.log(`  p99 ratio (audited / unaudited):        ${report.p99Ratio}  (goal ≤ 1.25)`);
    console.log(
      `  throughput ratio (audited / unaudited in a transaction): ${report.throughputRatioVsTransactional}`,
    );
    console.log(
      `  p99 ratio (audited / unaudited in a transaction):        ${report.p99RatioVsTransactional}`,
    );
    await mkdir(join(process.cwd(), 'bench', 'results'), { recursive: true });
    await writeFile(
      join(process.cwd(), 'bench', 'results', 'audit-overhead.json'),
      JSON.stringify(report, null, 2),
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    await stopEmbedded?.();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
