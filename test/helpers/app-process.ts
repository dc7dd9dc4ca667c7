import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

/** The built service (`dist/`, made by `npm test`'s pretest build) as a child process. */
export interface AppProcess {
  child: ChildProcess;
  port: number;
  /** Every line the process printed so far (stdout and stderr). */
  lines: string[];
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const MAIN = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

export interface StartOptions {
  /**
   * The process's working directory, where it looks for `.env` (default: the data dir's parent,
   * so a developer's own `.env` does not leak into the test).
   */
  cwd?: string;
  /** Variables to leave out of the child's environment (after `env` is applied). */
  unset?: string[];
}

/** Starts the app in embedded mode on `dataDir`; resolves once it says it is ready (or exits). */
export async function startAppProcess(
  dataDir: string,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<AppProcess & { ready: boolean }> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    EMBEDDED_PG_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    AUTH_MODE: 'header',
    AUTH_ALLOW_HEADER_MODE: 'true',
    ...env,
  };
  delete childEnv.DATABASE_URL;
  for (const name of options.unset ?? []) delete childEnv[name];
  const child = spawn(process.execPath, [MAIN], {
    cwd: options.cwd ?? dirname(dataDir),
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = await new Promise<boolean>((resolve) => {
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        if (line.includes('MCP Backend ready')) resolve(true);
      });
    }
    void exited.then(() => resolve(false));
  });
  return { child, port, lines, exited, ready };
}

/** Port and password of the embedded PostgreSQL the process started, from its log and data dir. */
export async function embeddedUrl(p: AppProcess, dataDir: string): Promise<string> {
  const line = p.lines.find((l) => l.includes('Embedded PostgreSQL listening on'));
  const port = /127\.0\.0\.1:(\d+)/.exec(line ?? '')?.[1];
  if (!port) throw new Error(`no embedded PostgreSQL port in:\n${p.lines.join('\n')}`);
  const password = (await readFile(`${dataDir}.credentials`, 'utf8')).trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  try {
    return Number.parseInt(
      (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
      10,
    );
  } catch {
    return undefined;
  }
}
