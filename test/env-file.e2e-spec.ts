import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  freePort,
  isAlive,
  postmasterPid,
  startAppProcess,
  type AppProcess,
} from './helpers/app-process';
import { createTestDatabase } from './setup/test-database';

/**
 * `.env.example` invites a `.env`: what it sets must reach every setting, including the ones
 * read before Nest starts (PORT, HOST, DATABASE_URL, the embedded PostgreSQL's). The built
 * service runs as a user runs it, in a directory holding only a `.env`.
 */
describe('Configuration from .env (e2e, child process)', () => {
  let root: string;
  let database: { url: string; drop: () => Promise<void> };
  let app: (AppProcess & { ready: boolean }) | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcp-dotenv-'));
    database = await createTestDatabase();
  });
  afterAll(async () => {
    if (app && app.child.exitCode === null) {
      app.child.kill('SIGTERM');
      await app.exited;
    }
    // Without .env reaching the service it would have started its own PostgreSQL here.
    const orphan = await postmasterPid(join(root, 'pg'));
    if (orphan && isAlive(orphan)) process.kill(orphan, 'SIGKILL');
    await database.drop();
    await rm(root, { recursive: true, force: true });
  });

  it('listens on the PORT and HOST of .env and uses its DATABASE_URL', async () => {
    const port = await freePort();
    await writeFile(
      join(root, '.env'),
      `PORT=${port}\nHOST=127.0.0.1\nDATABASE_URL=${database.url}\n`,
    );
    app = await startAppProcess(
      join(root, 'pg'),
      {},
      { cwd: root, unset: ['PORT', 'HOST', 'DATABASE_URL'] },
    );
    expect(app.ready).toBe(true);
    expect(app.lines.join('\n')).toContain(`http://127.0.0.1:${port}/api/v1`);

    const res = await fetch(`http://127.0.0.1:${port}/api/v1/mcp-definitions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'from-dotenv', transport: 'stdio', command: 'npx' }),
    });
    expect(res.status).toBe(201);
    const db = new Client({ connectionString: database.url });
    await db.connect();
    try {
      const { rows } = await db.query(`SELECT name FROM mcp_definitions`);
      expect(rows).toEqual([{ name: 'from-dotenv' }]);
    } finally {
      await db.end();
    }

    app.child.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });
});
