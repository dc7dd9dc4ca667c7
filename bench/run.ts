/**
 * `npm run bench`: the cost of auditing. Starts PostgreSQL (DATABASE_URL, or an embedded
 * one), a fresh database, and the app (NODE_ENV=production) with two identical endpoints
 * (one @Audited), then drives them with autocannon (loopback, 50 connections) in alternating
 * rounds and prints throughput and p99 latency of each, and their ratios.
 *
 * BENCH_DURATION (s per round, default 10), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (50).
 */
import 'reflect-metadata';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { BENCH_TABLE_SQL } from './bench.module';
import { benchMcp } from './mcp';
import {
  createBenchDatabase,
  DURATION,
  ROUNDS,
  CONNECTIONS,
  median,
  startBenchServer,
  stopBenchServer,
  withClient,
} from './harness';

const PORT = 3900 + Math.floor(Math.random() * 90);

interface Sample {
  rps: number;
  p99: number;
  p50: number;
  errors: number;
  non2xx: number;
  /** CPU time per request of the app's Node process, from /proc (µs). */
  nodeCpuUs: number;
  /** CPU time per request of the PostgreSQL backends serving the app, from /proc (µs). */
  pgCpuUs: number;
}

const TICK_US = 1_000_000 / 100; // USER_HZ is 100 on Linux

/** utime + stime of a process, in µs (0 when it is gone). */
async function cpuUs(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return 0;
  }
}

async function totalCpuUs(pids: number[]): Promise<number> {
  return (await Promise.all(pids.map(cpuUs))).reduce((a, b) => a + b, 0);
}

type Kind = 'audited' | 'unaudited' | 'transactional';

/** Who to measure: the app's process and its database's backends (found per round). */
interface Measured {
  serverPid: number;
  backendPids: () => Promise<number[]>;
}

async function fire(path: string, duration: number, measured?: Measured): Promise<Sample> {
  let n = 0;
  const backends = measured ? await measured.backendPids() : [];
  const nodeBefore = measured ? await cpuUs(measured.serverPid) : 0;
  const pgBefore = await totalCpuUs(backends);
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
  const nodeCpu = measured ? (await cpuUs(measured.serverPid)) - nodeBefore : 0;
  const pgCpu = (await totalCpuUs(backends)) - pgBefore;
  const total = Math.max(1, result.requests.total);
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    errors: result.errors,
    non2xx: result.non2xx,
    nodeCpuUs: nodeCpu / total,
    pgCpuUs: pgCpu / total,
  };
}

async function main(): Promise<void> {
  const db = await createBenchDatabase('mcp_bench', (ds) => ds.query(BENCH_TABLE_SQL));
  const url = new URL(db.url);
  const dbName = db.name;
  const server = await startBenchServer(
    db.url,
    PORT,
    {},
    process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [],
  );

  const measured: Measured = {
    serverPid: server.pid!,
    backendPids: () =>
      withClient(url.toString(), async (c) =>
        (
          await c.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
            [dbName],
          )
        ).rows.map((r) => r.pid),
      ),
  };

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
        const s = await fire(`/api/v1/bench/${kind}`, DURATION, measured);
        samples[kind].push(s);
        console.log(
          `round ${round} ${kind.padEnd(13)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${s.p50} ms  p99 ${s.p99} ms  CPU/req node ${s.nodeCpuUs.toFixed(0)} µs pg ${s.pgCpuUs.toFixed(0)} µs  errors ${s.errors} non-2xx ${s.non2xx}`,
        );
      }
    }
    const summary = (kind: Kind) => ({
      rps: median(samples[kind].map((s) => s.rps)),
      p99: median(samples[kind].map((s) => s.p99)),
      p50: median(samples[kind].map((s) => s.p50)),
      nodeCpuUs: Math.round(median(samples[kind].map((s) => s.nodeCpuUs))),
      pgCpuUs: Math.round(median(samples[kind].map((s) => s.pgCpuUs))),
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
    const line = (label: string, k: ReturnType<typeof summary>) =>
      console.log(
        `  ${label.padEnd(34)} ${k.rps.toFixed(0).padStart(6)} req/s  p99 ${k.p99} ms  ` +
          `CPU/req node ${k.nodeCpuUs} µs, PostgreSQL ${k.pgCpuUs} µs`,
      );
    line('unaudited POST', u);
    line('unaudited POST in a transaction', tx);
    line('audited POST', a);
    console.log(
      `  throughput audited / in a transaction: ${report.throughputRatioVsTransactional}  (goal ≥ 0.90)`,
    );
    console.log(
      `  throughput audited / unaudited:        ${report.throughputRatio}  (goal ≥ 0.75)`,
    );
    console.log(`  p99 audited / unaudited:               ${report.p99Ratio}  (goal ≤ 1.5)`);
    console.log(
      `  the audit path's own CPU per request: node ${a.nodeCpuUs - tx.nodeCpuUs} µs, ` +
        `PostgreSQL ${a.pgCpuUs - tx.pgCpuUs} µs (audited minus in a transaction)`,
    );
    await mkdir(join(process.cwd(), 'bench', 'results'), { recursive: true });
    await writeFile(
      join(process.cwd(), 'bench', 'results', 'audit-overhead.json'),
      JSON.stringify(report, null, 2),
    );
  } finally {
    await stopBenchServer(server);
    await db.drop();
  }
}

main()
  .then(() => benchMcp())
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
