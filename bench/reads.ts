/**
 * `npm run bench:reads`: what auditing the reads of the trail costs. Two app processes on one
 * fresh database holding 20,000 entries: one as shipped (every GET /action-logs writes a
 * READ ACTION_LOG entry in the background), one with the read entries switched off
 * (BENCH_READ_AUDIT=off, bench only). autocannon drives the same search against each in
 * alternating rounds; prints the median throughput and p99 of each and their ratio, and
 * checks that the audited one stored an entry for every request it answered.
 *
 * BENCH_DURATION (s per round, default 10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50).
 */
import 'reflect-metadata';
import type { ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import {
  createBenchDatabase,
  median,
  startBenchServer,
  stopBenchServer as stop,
  withClient,
} from './harness';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const BASE_PORT = 3900 + Math.floor(Math.random() * 80);
const SEARCH = '/api/v1/action-logs?actorId=seed&limit=20';

function startServer(databaseUrl: string, port: number, readAudit: boolean) {
  return startBenchServer(databaseUrl, port, { BENCH_READ_AUDIT: readAudit ? 'on' : 'off' });
}

async function fire(port: number, duration: number) {
  const r = await autocannon({
    url: `http://127.0.0.1:${port}${SEARCH}`,
    connections: CONNECTIONS,
    duration,
    headers: { 'x-user-id': 'bench-reader' },
  });
  return { rps: r.requests.average, p99: r.latency.p99, total: r.requests.total, non2xx: r.non2xx };
}

async function main(): Promise<void> {
  const db = await createBenchDatabase('mcp_bench_reads', async (ds) => {
    await ds.query(`
      INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id, details)
      SELECT gen_random_uuid(), now() - g * interval '1 second', CASE WHEN g % 2 = 0 THEN 'seed' ELSE 'other' END,
             'UPDATE', 'MCP_DEFINITION', (g % 500)::text, jsonb_build_object('changes', jsonb_build_object('n', g))
      FROM generate_series(1, 20000) g`);
    await ds.query(`ANALYZE action_log`);
  });
  const url = new URL(db.url);

  const servers: ChildProcess[] = [];
  try {
    const plain = await startServer(url.toString(), BASE_PORT, false);
    servers.push(plain);
    const audited = await startServer(url.toString(), BASE_PORT + 1, true);
    servers.push(audited);
    const port = { plain: BASE_PORT, audited: BASE_PORT + 1 };
    const before = await readEntries(url.toString());
    console.log(`warm-up (${Math.min(DURATION, 3)} s each)…`);
    await fire(port.plain, Math.min(DURATION, 3));
    const warm = await fire(port.audited, Math.min(DURATION, 3));
    let auditedAnswered = warm.total - warm.non2xx;
    const samples = {
      plain: [] as { rps: number; p99: number }[],
      audited: [] as { rps: number; p99: number }[],
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? (['plain', 'audited'] as const) : (['audited', 'plain'] as const);
      for (const kind of order) {
        const s = await fire(port[kind], DURATION);
        if (kind === 'audited') auditedAnswered += s.total - s.non2xx;
        samples[kind].push(s);
        console.log(
          `round ${round} ${kind === 'plain' ? 'reads not audited' : 'reads audited    '} ${s.rps.toFixed(0).padStart(6)} req/s  p99 ${s.p99} ms  non-2xx ${s.non2xx}`,
        );
      }
    }
    await stop(audited); // its shutdown stores what is still queued
    servers.pop();
    const stored = (await readEntries(url.toString())) - before;
    const p = {
      rps: median(samples.plain.map((s) => s.rps)),
      p99: median(samples.plain.map((s) => s.p99)),
    };
    const a = {
      rps: median(samples.audited.map((s) => s.rps)),
      p99: median(samples.audited.map((s) => s.p99)),
    };
    console.log('\nmedian of rounds');
    console.log(
      `  GET ${SEARCH}, reads not audited  ${p.rps.toFixed(0).padStart(6)} req/s  p99 ${p.p99} ms`,
    );
    console.log(
      `  GET ${SEARCH}, reads audited      ${a.rps.toFixed(0).padStart(6)} req/s  p99 ${a.p99} ms`,
    );
    console.log(`  throughput audited / not audited: ${(a.rps / p.rps).toFixed(3)}`);
    console.log(
      `  READ entries stored: ${stored} for ${auditedAnswered} audited requests answered`,
    );
  } finally {
    for (const s of servers) await stop(s);
    await db.drop();
  }
}

function readEntries(url: string): Promise<number> {
  return withClient(url, async (c) =>
    Number(
      (
        await c.query<{ n: string }>(
          `SELECT count(*) AS n FROM action_log WHERE action_type = 'READ' AND actor_id = 'bench-reader'`,
        )
      ).rows[0].n,
    ),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
