/**
 * Part of `npm run bench`: what the hash chain costs, and how fast it verifies.
 *
 * 1. Audited POST throughput with the sealer on and off, side by side: two app processes
 *    on two fresh databases, driven in alternating rounds (one at a time), autocannon on
 *    loopback. With the sealer on, its work (reading new entries, hashing, writing links,
 *    signing checkpoints) competes with the requests for the same CPUs.
 * 2. `npm run audit:verify` (the built CLI, default options) over BENCH_VERIFY_ROWS entries
 *    (default 1M), seeded in SQL and sealed by the app's own sealer first; the rows/s printed
 *    exclude seeding and sealing. BENCH_KEEP_DB=1 keeps the database and its key, and
 *    BENCH_VERIFY_DB / BENCH_VERIFY_KEYS re-run the verification on them.
 *
 * BENCH_DURATION (s per round, default 10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
 * BENCH_VERIFY_ROWS (1,000,000), BENCH_CHAIN=throughput|verify (one part only).
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { BENCH_TABLE_SQL } from './bench.module';
import {
  benchSigningKeyDir,
  createBenchDatabase,
  DURATION,
  ROUNDS,
  CONNECTIONS,
  median,
  startBenchServer,
  stopBenchServer,
  withClient,
} from './harness';

const VERIFY_ROWS = Number(process.env.BENCH_VERIFY_ROWS ?? 1_000_000);
const PORT_ON = 4000 + Math.floor(Math.random() * 40);
const PORT_OFF = PORT_ON + 50;

async function fire(port: number, duration: number): Promise<{ rps: number; p99: number }> {
  let n = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/api/v1/bench/audited`,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { 'content-type': 'application/json', 'x-user-id': 'bench' },
    requests: [
      { setupRequest: (req) => ({ ...req, body: JSON.stringify({ name: `item-${n++}` }) }) },
    ],
  });
  if (result.errors || result.non2xx) throw new Error(`bench requests failed: ${result.non2xx}`);
  return { rps: result.requests.average, p99: result.latency.p99 };
}

const unsealed = (url: string) =>
  withClient(url, async (c) =>
    Number(
      (
        await c.query<{ n: string }>(
          `SELECT count(*) AS n FROM action_log l
           WHERE NOT EXISTS (SELECT 1 FROM action_log_chain c WHERE c.entry_id = l.id)`,
        )
      ).rows[0].n,
    ),
  );

async function throughput(): Promise<{
  on: number;
  off: number;
  ratio: number;
  lagAfterRound: number[];
}> {
  const seed = async (ds: { query: (sql: string) => Promise<unknown> }) => {
    await ds.query(BENCH_TABLE_SQL);
  };
  const dbOn = await createBenchDatabase('mcp_bench_chain_on', seed);
  const dbOff = await createBenchDatabase('mcp_bench_chain_off', seed);
  const on = await startBenchServer(dbOn.url, PORT_ON);
  const off = await startBenchServer(dbOff.url, PORT_OFF, { AUDIT_SEAL_INTERVAL_MS: '0' });
  const samples = { on: [] as number[], off: [] as number[] };
  const lagAfterRound: number[] = [];
  try {
    console.log(`chain: warm-up (${Math.min(DURATION, 5)} s each)…`);
    await fire(PORT_ON, Math.min(DURATION, 5));
    await fire(PORT_OFF, Math.min(DURATION, 5));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of round % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const s = await fire(kind === 'on' ? PORT_ON : PORT_OFF, DURATION);
        samples[kind].push(s.rps);
        if (kind === 'on') lagAfterRound.push(await unsealed(dbOn.url));
        console.log(
          `chain round ${round} sealer ${kind.padEnd(3)} ${s.rps.toFixed(0).padStart(6)} req/s  p99 ${s.p99} ms` +
            (kind === 'on'
              ? `  unsealed right after: ${lagAfterRound[lagAfterRound.length - 1]}`
              : ''),
        );
      }
    }
  } finally {
    await stopBenchServer(on);
    await stopBenchServer(off);
    await dbOn.drop();
    await dbOff.drop();
  }
  const onRps = median(samples.on);
  const offRps = median(samples.off);
  return { on: onRps, off: offRps, ratio: Number((onRps / offRps).toFixed(3)), lagAfterRound };
}

/** Entries of a realistic shape (details of a few hundred bytes, request metadata). */
const SEED_SQL = `
  INSERT INTO action_log (event_id, "timestamp", actor_id, action_type, entity_type, entity_id,
                          details, request_id, correlation_id, ip, user_agent, method, path,
                          outcome, status_code, actor_roles)
  SELECT gen_random_uuid(), now() - (i || ' seconds')::interval, 'user-' || (i % 500),
         (ARRAY['CREATE','UPDATE','DELETE','READ'])[1 + i % 4], 'MCP_DEFINITION', 'def-' || (i % 20000),
         jsonb_build_object('changes', jsonb_build_object(
           'description', jsonb_build_object('from', 'old text ' || i, 'to', 'new text ' || i),
           'tags', jsonb_build_object('from', jsonb_build_array('a'), 'to', jsonb_build_array('a', 'b')))),
         'req-' || i, 'req-' || i, '10.0.' || (i % 250) || '.' || (i % 200),
         'Mozilla/5.0 (X11; Linux x86_64) bench', 'PATCH', '/api/v1/mcp-definitions/def-' || (i % 20000),
         'SUCCESS', 200, ARRAY['editor']
  FROM generate_series($1::int, $2::int) AS i`;

interface VerifySpeed {
  rows: number;
  /** As the CLI reports it: from its start (keys, connection, workers) to its verdict. */
  rowsPerSecond: number;
  /** The whole child process, node's start-up included. */
  processRowsPerSecond: number;
  sealSeconds: number;
}

/**
 * BENCH_VERIFY_DB (+ BENCH_VERIFY_KEYS, the key directory it printed) re-runs the verification
 * on a database kept by an earlier run (BENCH_KEEP_DB=1), without seeding and sealing again.
 */
async function verifySpeed(): Promise<VerifySpeed> {
  const reuse = process.env.BENCH_VERIFY_DB;
  if (reuse) {
    const keys = process.env.BENCH_VERIFY_KEYS;
    if (!keys) throw new Error('BENCH_VERIFY_DB needs BENCH_VERIFY_KEYS (the kept key directory)');
    return { ...(await runVerify(reuse, keys)), sealSeconds: 0 };
  }
  const db = await createBenchDatabase('mcp_bench_verify', async (ds) => {
    for (let from = 1; from <= VERIFY_ROWS; from += 100_000)
      await ds.query(SEED_SQL, [from, Math.min(VERIFY_ROWS, from + 99_999)]);
  });
  const keys = await benchSigningKeyDir();
  try {
    console.log(`verify: sealing ${VERIFY_ROWS} seeded entries with the app's sealer…`);
    const started = Date.now();
    const app = await startBenchServer(db.url, PORT_ON + 100, { AUDIT_SEAL_INTERVAL_MS: '50' });
    try {
      while ((await unsealed(db.url)) > 0) await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await stopBenchServer(app);
    }
    const sealSeconds = (Date.now() - started) / 1000;
    console.log(`verify: sealed in ${sealSeconds.toFixed(1)} s`);
    await copyFile(
      join(keys, `checkpoints-${PORT_ON + 100}.ndjson`),
      join(keys, 'checkpoints.ndjson'),
    );
    const speed = await runVerify(db.url, keys);
    if (speed.rows !== VERIFY_ROWS) throw new Error(`verified ${speed.rows} of ${VERIFY_ROWS}`);
    return { ...speed, sealSeconds };
  } finally {
    // BENCH_KEEP_DB=1 keeps the sealed database and its key (to re-run, or look at plans).
    if (process.env.BENCH_KEEP_DB) {
      const kept = await mkdtemp(join(tmpdir(), 'mcp-bench-verify-keys-'));
      await cp(keys, kept, { recursive: true });
      console.log(`kept BENCH_VERIFY_DB=${db.url} BENCH_VERIFY_KEYS=${kept}`);
    } else await db.drop();
  }
}

/** `npm run audit:verify` (the built CLI, its defaults) over the whole chain; seeding excluded. */
async function runVerify(url: string, keys: string): Promise<Omit<VerifySpeed, 'sealSeconds'>> {
  console.log('verify: running npm run audit:verify…');
  const started = process.hrtime.bigint();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(__dirname, '..', 'src', 'modules', 'auditing', 'chain', 'verify-cli.js')],
    {
      env: {
        ...process.env,
        DATABASE_URL: url,
        AUDIT_SIGNING_KEY_FILE: join(keys, 'audit-signing.key'),
        AUDIT_CHECKPOINT_FILE: join(keys, 'checkpoints.ndjson'),
      },
      maxBuffer: 10 * 1024 * 1024,
    },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const result = JSON.parse(stdout) as {
    ok: boolean;
    checked: number;
    rowsPerSecond: number;
    seconds: number;
  };
  if (!result.ok || result.checked < 1) throw new Error(`verification did not hold: ${stdout}`);
  const processRowsPerSecond = Math.round(result.checked / seconds);
  console.log(
    `verify: ${result.checked} entries in ${result.seconds} s: ${result.rowsPerSecond} rows/s ` +
      `(${processRowsPerSecond} rows/s counting node's start-up)`,
  );
  return { rows: result.checked, rowsPerSecond: result.rowsPerSecond, processRowsPerSecond };
}

async function main(): Promise<void> {
  // BENCH_CHAIN=throughput|verify runs one part only.
  const only = process.env.BENCH_CHAIN;
  const chain =
    only === 'verify' ? { on: 0, off: 0, ratio: 0, lagAfterRound: [] } : await throughput();
  const verify =
    only === 'throughput'
      ? { rows: 0, rowsPerSecond: 0, processRowsPerSecond: 0, sealSeconds: 0 }
      : await verifySpeed();
  console.log('\nhash chain');
  console.log(`  audited POST, sealer on:  ${chain.on.toFixed(0).padStart(6)} req/s`);
  console.log(`  audited POST, sealer off: ${chain.off.toFixed(0).padStart(6)} req/s`);
  console.log(`  throughput on / off: ${chain.ratio}  (goal ≥ 0.95)`);
  console.log(
    `  npm run audit:verify over ${verify.rows} entries: ${verify.rowsPerSecond} rows/s  (goal ≥ 200,000)`,
  );
  await mkdir(join(process.cwd(), 'bench', 'results'), { recursive: true });
  const file = join(process.cwd(), 'bench', 'results', 'hash-chain.json');
  await writeFile(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        connections: CONNECTIONS,
        durationSeconds: DURATION,
        rounds: ROUNDS,
        ...chain,
        verify,
      },
      null,
      2,
    ),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
