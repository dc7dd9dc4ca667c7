/**
 * `npm run bench:log`: the action log at scale, through the API of one production-mode app
 * process on a fresh database seeded with BENCH_LOG_ROWS (1,000,000) entries: 90 days, 5,000
 * actors with a skew (a few very active), six entity types, DELETE rare (1 in 500, never on
 * WORKFLOW_RUN), a FAILED status in details for 1 in 200. Prints, all measured in this run:
 * - p50/p99 of each search (sequential requests, keep-alive), and the deep page vs the first;
 * - throughput of a 50-entry page at 50 connections (autocannon);
 * - bulk ingest rows/s vs a raw COPY of the same rows into the same table;
 * - export NDJSON rows/s vs a raw pg-query-stream of the same query, and the app's peak RSS;
 * - archive + drop of the oldest month (`npm run audit:retention` with a retention that expires
 *   it): time, rows, and the log's size before and after.
 *
 * BENCH_LOG_ROWS (1e6), BENCH_SAMPLES (200 per search), BENCH_DURATION (10 s of autocannon),
 * BENCH_BULK_BATCHES (10 batches of 10,000).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { ENTRY_JSON } from '@/modules/auditing';
import autocannon from 'autocannon';
import { from as copyFrom } from 'pg-copy-streams';
import QueryStream from 'pg-query-stream';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  benchSigningKeyDir,
  createBenchDatabase,
  SECRETS_KEY,
  startBenchServer,
  stopBenchServer,
  withClient,
} from './harness';

const ROWS = Number(process.env.BENCH_LOG_ROWS ?? 1_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const BULK_BATCHES = Number(process.env.BENCH_BULK_BATCHES ?? 10);
const BULK_SIZE = 10_000;
/** BENCH_LOG_ONLY=reads: the searches and the page throughput only; =bulk: the bulk ingest only. */
const ONLY = process.env.BENCH_LOG_ONLY;
const PORT = 3980 + Math.floor(Math.random() * 15);
const API = '/api/v1/action-logs';

const TYPES = [
  'MCP_DEFINITION',
  'WORKFLOW_RUN',
  'WORKFLOW_DEFINITION',
  'MCP_VERSION',
  'ACTION_LOG',
  'MCP_DEFINITION',
];

const SEED = `
  INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
    details, request_id, correlation_id, ip, user_agent, method, path, outcome, status_code,
    actor_roles)
  SELECT gen_random_uuid(),
    now() - (g::double precision / ${ROWS}) * interval '90 days',
    'user-' || floor(5000 * power(((g::bigint * 7919) % 10007) / 10007.0, 3))::int,
    CASE WHEN g % 500 = 0 THEN 'DELETE' WHEN g % 3 = 0 THEN 'CREATE' WHEN g % 3 = 1 THEN 'UPDATE'
         ELSE 'READ' END,
    (ARRAY[${TYPES.map((t) => `'${t}'`).join(', ')}])[g % 6 + 1],
    ((g::bigint * 31) % 50000)::text,
    jsonb_build_object('status', CASE WHEN g % 200 = 0 THEN 'FAILED' ELSE 'OK' END, 'n', g,
                       'name', 'item-' || (g % 1000)),
    'req-' || (g / 2), 'corr-' || (g / 8), '10.0.' || (g % 250) || '.1', 'bench/1.0',
    'PATCH', '/api/v1/things/' || (g % 50000),
    CASE WHEN g % 100 = 0 THEN 'FAILURE' WHEN g % 300 = 1 THEN 'DENIED' ELSE 'SUCCESS' END,
    CASE WHEN g % 100 = 0 THEN 409 WHEN g % 300 = 1 THEN 403 ELSE 200 END,
    CASE WHEN g % 7 = 0 THEN ARRAY['auditor'] ELSE ARRAY['editor'] END
  FROM generate_series(1, ${ROWS}) g`;

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One GET; resolves with the status, body and time in ms. */
function get(path: string): Promise<{ status: number; body: string; ms: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: PORT, path, agent, headers: { 'x-user-id': 'bench' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: Number(process.hrtime.bigint() - start) / 1e6,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function latency(path: string): Promise<{ p50: number; p99: number; items: number }> {
  const first = await get(path);
  if (first.status !== 200) throw new Error(`${path}: ${first.status} ${first.body}`);
  // Steady state: as many unmeasured requests first (V8 optimizes the path as it runs it;
  // after 20 requests the first search measured a cold process, ~1.5 ms slower).
  for (let i = 0; i < SAMPLES; i++) await get(path);
  const ms: number[] = [];
  for (let i = 0; i < SAMPLES; i++) ms.push((await get(path)).ms);
  const items = (JSON.parse(first.body) as { items: unknown[] }).items.length;
  return { p50: pct(ms, 0.5), p99: pct(ms, 0.99), items };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  const db = await benchDatabase();
  let server = await startBenchServer(db.url, PORT);
  try {
    // The seeded entries are not chained yet: measure once the sealer is done with them, not
    // while it works through a million rows beside the searches.
    const sealStart = Date.now();
    await waitSealed(db.url);
    console.log(`sealed by the app in ${((Date.now() - sealStart) / 1000).toFixed(0)} s`);
    // What autovacuum would have done to a log that lived 90 days (the seeded entries were
    // vacuumed when seeded; their chain links were written just now). It may be off on a
    // test cluster (it is on this project's machines), and the searches read a link per entry.
    const vacuumStart = Date.now();
    await withClient(db.url, (c) =>
      c.query('VACUUM (ANALYZE) action_log, action_log_chain, action_log_event_ids'),
    );
    console.log(`vacuumed in ${((Date.now() - vacuumStart) / 1000).toFixed(0)} s`);
    async function reads(): Promise<void> {
      const now = Date.now();
      const day = 86_400_000;
      const iso = (ms: number) => new Date(ms).toISOString();
      const searches: [string, string][] = [
        ['newest page (50)', `${API}?limit=50`],
        ['entity history', `${API}/entities/MCP_DEFINITION/${(6 * 31) % 50000}`],
        ['actor (the most active)', `${API}?actorId=user-0`],
        [
          'time window (1 day) + type',
          `${API}?actionType=UPDATE&from=${iso(now - 30 * day)}&to=${iso(now - 29 * day)}`,
        ],
        ['no match (entityType + DELETE)', `${API}?entityType=WORKFLOW_RUN&actionType=DELETE`],
        ['requestId', `${API}?requestId=req-123456`],
        ['details (rare: one entry)', `${API}?details=${encodeURIComponent('{"n":654321}')}`],
        [
          'details (1 in 200)',
          `${API}?details=${encodeURIComponent('{"status":"FAILED"}')}&limit=50`,
        ],
        ['residual: statusCode=403 (1 in 300)', `${API}?statusCode=403`],
      ];
      console.log(`\nsearches through the API (${SAMPLES} sequential requests each)`);
      const results: Record<string, { p50: number; p99: number }> = {};
      for (const [name, path] of searches) {
        const r = await latency(path);
        results[name] = r;
        console.log(
          `  ${name.padEnd(38)} p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(6)} ms  (${r.items} items)`,
        );
      }
      // 400 pages deep along the newest-first order.
      let cursor: string | null = null;
      for (let page = 0; page < 400; page++) {
        const res = await get(`${API}?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
        cursor = (JSON.parse(res.body) as { nextCursor: string | null }).nextCursor;
      }
      const deep = await latency(`${API}?limit=50&cursor=${cursor}`);
      const first = results['newest page (50)'];
      console.log(
        `  ${'page 400 deep (50)'.padEnd(38)} p50 ${deep.p50.toFixed(2).padStart(6)} ms  p99 ${deep.p99.toFixed(2).padStart(6)} ms  deep/first p50 ${(deep.p50 / first.p50).toFixed(2)}`,
      );

      console.log(`\nthroughput: GET ${API}?limit=50 at 50 connections, ${DURATION} s`);
      await autocannon({
        url: `http://127.0.0.1:${PORT}${API}?limit=50`,
        connections: 50,
        duration: 3,
        headers: { 'x-user-id': 'bench' },
      });
      const load = await autocannon({
        url: `http://127.0.0.1:${PORT}${API}?limit=50`,
        connections: 50,
        duration: DURATION,
        headers: { 'x-user-id': 'bench' },
      });
      console.log(
        `  ${load.requests.average.toFixed(0)} req/s (${(load.requests.average * 50).toFixed(0)} entries/s)  p99 ${load.latency.p99} ms  non-2xx ${load.non2xx}`,
      );
    }
    if (ONLY !== 'bulk') await reads();
    if (ONLY === 'reads') return;
    await bulk(db.url);
    if (ONLY === 'bulk') return;
    // A fresh process, so its RSS is the export's, not what the load above left behind.
    await stopBenchServer(server);
    server = await startBenchServer(db.url, PORT);
    // The bulk rows chained first, so the RSS measured is the export's, not the sealer's.
    await waitSealed(db.url);
    await exportRun(db.url, server.pid!);
    await stopBenchServer(server);
    await archiveRun(db.url);
  } finally {
    await stopBenchServer(server);
    await db.drop();
  }
}

/**
 * A fresh database seeded with ROWS entries; dropped at the end unless BENCH_KEEP_DB=1 (it
 * prints its URL). BENCH_LOG_DB=<url> measures a database kept that way instead, as it is.
 */
async function benchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const reuse = process.env.BENCH_LOG_DB;
  if (reuse) return { url: reuse, drop: () => Promise.resolve() };
  console.log(`seeding ${ROWS.toLocaleString('en')} entries…`);
  const seedStart = Date.now();
  const db = await createBenchDatabase('mcp_bench_log', async (ds) => {
    // 90 days back: the monthly partitions of the log must be there.
    await ds.query(`SELECT audit_ensure_partitions(now() - interval '91 days', now())`);
    await ds.query(SEED);
    await ds.query('VACUUM ANALYZE action_log');
  });
  console.log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(0)} s`);
  if (!process.env.BENCH_KEEP_DB) return db;
  return {
    url: db.url,
    drop: () => Promise.resolve(console.log(`kept BENCH_LOG_DB=${db.url}`)),
  };
}

function bulkEntries(n: number, tag: string) {
  return Array.from({ length: n }, (_, i) => ({
    eventId: randomUUID(),
    actorId: `importer-${i % 50}`,
    actionType: 'CREATE',
    entityType: 'MCP_DEFINITION',
    entityId: `${tag}-${i}`,
    details: { name: `item-${i}`, status: 'OK', n: i },
    timestamp: new Date(Date.now() - i * 1000).toISOString(),
    requestId: `import-${tag}`,
  }));
}

async function bulk(url: string): Promise<void> {
  console.log(`\nbulk ingest: ${BULK_BATCHES} batches of ${BULK_SIZE.toLocaleString('en')}`);
  let apiMs = 0;
  for (let b = 0; b < BULK_BATCHES; b++) {
    const body = JSON.stringify({ entries: bulkEntries(BULK_SIZE, `api${b}`) });
    const start = process.hrtime.bigint();
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: PORT,
          path: `${API}/bulk`,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-user-id': 'bench-admin',
          },
        },
        (r) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    apiMs += Number(process.hrtime.bigint() - start) / 1e6;
    if (res.status !== 200) throw new Error(`bulk: ${res.status} ${res.text}`);
  }
  const apiRate = (BULK_BATCHES * BULK_SIZE) / (apiMs / 1000);
  // The same rows through a raw COPY (text format) on one connection.
  const copyMs = await withClient(url, async (c) => {
    let total = 0;
    for (let b = 0; b < BULK_BATCHES; b++) {
      const lines = bulkEntries(BULK_SIZE, `copy${b}`)
        .map((e) =>
          [
            e.eventId,
            e.timestamp,
            e.actorId,
            e.actionType,
            e.entityType,
            e.entityId,
            JSON.stringify(e.details).replace(/\\/g, '\\\\'),
            e.requestId,
          ].join('\t'),
        )
        .join('\n');
      const start = process.hrtime.bigint();
      const stream = c.query(
        copyFrom(
          `COPY action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id, details, request_id) FROM STDIN`,
        ),
      );
      stream.end(`${lines}\n`);
      await new Promise((resolve, reject) => stream.on('finish', resolve).on('error', reject));
      total += Number(process.hrtime.bigint() - start) / 1e6;
    }
    return total;
  });
  const copyRate = (BULK_BATCHES * BULK_SIZE) / (copyMs / 1000);
  console.log(`  POST /action-logs/bulk  ${apiRate.toFixed(0).padStart(7)} rows/s`);
  console.log(`  raw COPY                ${copyRate.toFixed(0).padStart(7)} rows/s`);
  console.log(`  bulk / COPY: ${(apiRate / copyRate).toFixed(2)}`);
}

/** Counts what arrives, keeps nothing. */
function sink(): { stream: Writable; bytes: () => number } {
  let bytes = 0;
  return {
    stream: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback();
      },
    }),
    bytes: () => bytes,
  };
}

async function exportRun(url: string, pid: number): Promise<void> {
  const { rows } = await withClient(url, (c) =>
    c.query<{ n: number }>('SELECT count(*)::int AS n FROM action_log'),
  );
  const total = rows[0].n;
  console.log(`\nexport NDJSON of the whole log (${total.toLocaleString('en')} entries)`);
  let peak = rssMb(pid);
  const baseline = peak;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  const start = process.hrtime.bigint();
  const out = sink();
  await new Promise<void>((resolve, reject) => {
    request(
      {
        host: '127.0.0.1',
        port: PORT,
        path: `${API}/export?format=ndjson`,
        headers: { 'x-user-id': 'bench' },
      },
      (res) => {
        pipeline(res, out.stream).then(resolve, reject);
      },
    )
      .on('error', reject)
      .end();
  });
  clearInterval(sampler);
  const apiSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  // The same query, streamed raw by pg-query-stream in this process.
  const raw = await withClient(url, async (c) => {
    const rawStart = process.hrtime.bigint();
    const rawOut = sink();
    let n = 0;
    const stream = c.query(new QueryStream(RAW_EXPORT, [], { batchSize: 1000 }));
    await pipeline(
      stream,
      new Writable({
        objectMode: true,
        write(row: { j: string }, _encoding, callback) {
          n++;
          rawOut.stream.write(`${row.j}\n`, callback);
        },
      }),
    );
    return { n, seconds: Number(process.hrtime.bigint() - rawStart) / 1e9 };
  });
  const apiRate = total / apiSeconds;
  const rawRate = raw.n / raw.seconds;
  console.log(
    `  GET /action-logs/export  ${apiRate.toFixed(0).padStart(7)} rows/s  (${(out.bytes() / 1e6).toFixed(0)} MB)`,
  );
  console.log(`  raw pg-query-stream      ${rawRate.toFixed(0).padStart(7)} rows/s`);
  console.log(`  export / raw: ${(apiRate / rawRate).toFixed(2)}`);
  console.log(
    `  app RSS: ${baseline.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB during the export`,
  );
}

/** What the export runs for an unfiltered NDJSON export: the same projection, chain link included. */
const RAW_EXPORT = `SELECT ${ENTRY_JSON} AS j FROM action_log l ORDER BY l."timestamp" DESC, l.id DESC`;

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/** Until the running server's sealer has chained every entry (archiving needs it). */
async function waitSealed(url: string): Promise<void> {
  for (;;) {
    const { rows } = await withClient(url, (c) =>
      c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM action_log l, audit_chain_state s
         WHERE (l.tx, l.id) > (s.last_tx, s.last_id)`,
      ),
    );
    if (rows[0].n === 0) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** One retention pass that expires the oldest month: its time, and the log's size around it. */
async function archiveRun(url: string): Promise<void> {
  const size = () =>
    withClient(url, async (c) => {
      const { rows } = await c.query<{ bytes: string; n: number }>(
        `SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('action_log'))::text
                  AS bytes,
                (SELECT count(*)::int FROM action_log) AS n`,
      );
      return { bytes: Number(rows[0].bytes), n: rows[0].n };
    });
  const { rows } = await withClient(url, (c) =>
    c.query<{ oldest_end: Date }>(
      `SELECT date_trunc('month', min("timestamp"), 'UTC') + interval '1 month' AS oldest_end
       FROM action_log`,
    ),
  );
  // The oldest month ended this many whole days ago: a retention one day shorter expires it
  // and no other (the next month ended at least 28 days later).
  const days = Math.floor((Date.now() - rows[0].oldest_end.getTime()) / 86_400_000) - 1;
  const dir = await mkdtemp(join(tmpdir(), 'mcp-bench-archive-'));
  const keys = await benchSigningKeyDir();
  try {
    const before = await size();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(__dirname, '..', 'src', 'tools', 'audit-retention.js')],
      {
        env: {
          ...process.env,
          DATABASE_URL: url,
          NODE_ENV: 'production',
          AUTH_MODE: 'header',
          AUTH_ALLOW_HEADER_MODE: 'true',
          AUDIT_SIGNING_KEY_FILE: join(keys, 'audit-signing.key'),
          AUDIT_CHECKPOINT_FILE: join(keys, 'checkpoints-retention.ndjson'),
          MCP_SECRETS_KEY: SECRETS_KEY,
          AUDIT_RETENTION_DAYS: String(days),
          AUDIT_ARCHIVE_DIR: dir,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    // The pass is the last JSON object printed (log lines may come before it).
    const json = stdout.slice(stdout.search(/^\{$/m));
    const pass = JSON.parse(json) as { purged: string[]; kept: unknown[]; seconds: number };
    const after = await size();
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
    console.log(`
archive + drop of the oldest month (retention ${days} days)`);
    console.log(
      `  ${pass.purged.join(', ') || 'nothing purged'}: ${(before.n - after.n).toLocaleString('en')} entries in ${pass.seconds.toFixed(2)} s` +
        `  (${Math.round((before.n - after.n) / pass.seconds).toLocaleString('en')} entries/s)` +
        `  log ${mb(before.bytes)} → ${mb(after.bytes)}${pass.kept.length ? `  kept: ${JSON.stringify(pass.kept)}` : ''}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
