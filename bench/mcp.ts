/**
 * Runs per second of a one-step workflow (one `echo` call) against the stdio fixture server,
 * executed by the app's own executor (WORKFLOW_MAX_CONCURRENT_RUNS=4), two ways: spawn per run
 * (every step spawns the server, initializes, calls, stops it) and with a warm pool
 * (MCP_STDIO_POOL_SIZE=4: servers kept per definition and reused by the next runs).
 *
 * BENCH_MCP_RUNS (default 40) runs are started at once; the figure is runs / (time from the
 * first start to the last run finished), median of BENCH_ROUNDS (default 3) batches.
 */
import { join } from 'node:path';
import {
  createBenchDatabase,
  ROUNDS,
  median,
  startBenchServer,
  stopBenchServer,
  withClient,
} from './harness';

const RUNS = Number(process.env.BENCH_MCP_RUNS ?? 40);
const CONCURRENCY = 4;
const PORT = 3990 + Math.floor(Math.random() * 9);
/** dist/bench/mcp.js → the repository's fixture (plain JavaScript, run by `node`). */
const FIXTURE = join(__dirname, '..', '..', 'test', 'fixtures', 'mcp', 'stdio-server.mjs');

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${PORT}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-user-id': 'bench', 'x-user-roles': 'admin' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function benchMcp(): Promise<void> {
  console.log(
    `\nMCP executor: one-step workflow (echo) on the stdio fixture, ${RUNS} runs per batch, ` +
      `${CONCURRENCY} at a time`,
  );
  const spawn = await measure(0);
  console.log(`  spawn per run: ${spawn.toFixed(1)} runs/s (median)`);
  const warm = await measure(CONCURRENCY);
  console.log(
    `  warm pool (MCP_STDIO_POOL_SIZE=${CONCURRENCY}): ${warm.toFixed(1)} runs/s (median)`,
  );
  console.log(`  warm / spawn: ${(warm / spawn).toFixed(1)}×`);
}

/** Median runs/s of the executor with `poolSize` warm servers per definition. */
async function measure(poolSize: number): Promise<number> {
  const db = await createBenchDatabase('mcp_exec_bench', () => Promise.resolve());
  const server = await startBenchServer(db.url, PORT, {
    WORKFLOW_EXECUTOR: 'on',
    WORKFLOW_MAX_CONCURRENT_RUNS: String(CONCURRENCY),
    WORKFLOW_POLL_INTERVAL_MS: '50',
    MCP_STDIO_POOL_SIZE: String(poolSize),
  });
  try {
    const def = await api<{ id: string }>('POST', '/mcp-definitions', {
      name: 'bench-fixture',
      transport: 'stdio',
      command: 'node',
      args: [FIXTURE],
    });
    const wf = await api<{ id: string }>('POST', '/workflows', {
      name: 'bench-echo',
      steps: [{ name: 'echo', mcpDefinitionId: def.id, tool: 'echo', input: { text: 'hi' } }],
    });
    const rates: number[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      const started = performance.now();
      const ids = await Promise.all(
        Array.from({ length: RUNS }, () =>
          api<{ id: string }>('POST', `/workflows/${wf.id}/runs`, {}).then((r) => r.id),
        ),
      );
      const statuses = await waitFinished(db.url, ids);
      const seconds = (performance.now() - started) / 1000;
      const failed = statuses.filter((s) => s !== 'SUCCEEDED').length;
      if (failed > 0) throw new Error(`${failed} of ${RUNS} runs did not succeed`);
      // Round 0 warms up (first spawns, JIT).
      if (round > 0) {
        rates.push(RUNS / seconds);
        console.log(`    pool ${poolSize}, batch ${round}: ${(RUNS / seconds).toFixed(1)} runs/s`);
      }
    }
    return median(rates);
  } finally {
    await stopBenchServer(server);
    await db.drop();
  }
}

async function waitFinished(url: string, ids: string[]): Promise<string[]> {
  return withClient(url, async (c) => {
    for (;;) {
      const { rows } = await c.query<{ status: string }>(
        `SELECT status FROM workflow_runs WHERE id = ANY($1::uuid[])`,
        [ids],
      );
      if (rows.every((r) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(r.status))) {
        return rows.map((r) => r.status);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

if (require.main === module) {
  benchMcp().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
