import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  embeddedUrl,
  isAlive,
  postmasterPid,
  startAppProcess,
  type AppProcess,
} from './helpers/app-process';

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

async function health(p: AppProcess): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${p.port}/api/v1/health`);
  return res.status;
}

/**
 * The service as a user runs it: `node dist/src/main.js` with no DATABASE_URL, so it owns an
 * embedded PostgreSQL under EMBEDDED_PG_DATA_DIR. Each step waits on the process's own
 * signals (its "ready" line, its exit), never on a timer.
 */
describe('Embedded PostgreSQL lifecycle (e2e, child processes)', () => {
  let root: string;
  let dataDir: string;
  const running: AppProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcp-embedded-'));
    dataDir = join(root, 'pg');
  });
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    const orphan = await postmasterPid(dataDir);
    if (orphan && isAlive(orphan)) process.kill(orphan, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('starts on a fresh data dir, keeps data across a clean restart, and stops PostgreSQL with it', async () => {
    const first = await startAppProcess(dataDir);
    running.push(first);
    expect(first.ready).toBe(true);
    expect(await health(first)).toBe(200);
    const url = await embeddedUrl(first, dataDir);
    await query(url, 'CREATE TABLE restart_marker (note text)');
    await query(url, "INSERT INTO restart_marker VALUES ('kept')");
    const pgPid = await postmasterPid(dataDir);
    expect(pgPid && isAlive(pgPid)).toBe(true);

    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(isAlive(pgPid!)).toBe(false);

    const second = await startAppProcess(dataDir);
    running.push(second);
    expect(second.ready).toBe(true);
    const rows = await query<{ note: string }>(
      await embeddedUrl(second, dataDir),
      'SELECT note FROM restart_marker',
    );
    expect(rows).toEqual([{ note: 'kept' }]);
    second.child.kill('SIGINT');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });

  it('recovers from a SIGKILLed previous run (orphan postmaster) and refuses a second live owner', async () => {
    const victim = await startAppProcess(dataDir);
    running.push(victim);
    expect(victim.ready).toBe(true);
    const orphan = await postmasterPid(dataDir);
    victim.child.kill('SIGKILL');
    await victim.exited;
    expect(orphan && isAlive(orphan)).toBe(true); // the orphan still holds the data dir

    const next = await startAppProcess(dataDir);
    running.push(next);
    expect(next.ready).toBe(true);
    expect(await health(next)).toBe(200);
    expect(isAlive(orphan!)).toBe(false);
    const rows = await query<{ note: string }>(
      await embeddedUrl(next, dataDir),
      'SELECT note FROM restart_marker',
    );
    expect(rows).toEqual([{ note: 'kept' }]);

    const intruder = await startAppProcess(dataDir);
    running.push(intruder);
    expect(intruder.ready).toBe(false);
    expect((await intruder.exited).code).toBe(1);
    expect(intruder.lines.join('\n')).toMatch(/in use by another running instance \(pid \d+\)/);
    expect(await health(next)).toBe(200); // the owner is untouched

    next.child.kill('SIGTERM');
    expect(await next.exited).toEqual({ code: 0, signal: null });
  });

  it('stops at boot with a message naming a bad variable', async () => {
    const bad = await startAppProcess(join(root, 'unused'), { PORT: 'eighty' });
    expect(bad.ready).toBe(false);
    expect((await bad.exited).code).toBe(1);
    // Even the failure to start is a JSON log line.
    const logged = bad.lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(logged).toContainEqual(
      expect.objectContaining({ level: 60, msg: expect.stringMatching(/PORT="eighty"/) }),
    );
  });
});
