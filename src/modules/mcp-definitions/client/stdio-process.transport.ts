import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** How much of the server's stderr is kept for error messages (its last bytes). */
const STDERR_TAIL_BYTES = 2048;
/** After stdin closes, how long a server may take to exit before SIGTERM, then SIGKILL. */
const GRACE_MS = 1000;

export interface StdioProcessOptions {
  command: string;
  args: readonly string[];
  /** The definition's own env (decrypted). The child gets this plus PATH, nothing else. */
  env: Record<string, string>;
}

/**
 * An MCP stdio client transport that spawns the server the way a service should:
 * - no shell (`spawn` with an argument vector);
 * - a minimal environment: `PATH` and the definition's own variables, none of the service's
 *   (the SDK's `StdioClientTransport` always adds HOME, USER, SHELL… to it);
 * - a working directory of its own (a fresh temp dir, removed on close);
 * - its own process group, so closing stops the server *and* what it spawned (`npx` runs the
 *   real server as a grandchild), escalating SIGTERM → SIGKILL;
 * - stderr captured (its tail explains a server that exits at start) instead of inherited.
 */
export class StdioProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private readonly buffer = new ReadBuffer();
  private stderrTail = '';
  private cwd: string | undefined;
  private exitInfo: string | undefined;
  private closing = false;

  constructor(private readonly options: StdioProcessOptions) {}

  /** The spawned server's pid (also its process group id), once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Started and not exited. */
  get running(): boolean {
    return this.child?.pid !== undefined && this.exitInfo === undefined && !this.closing;
  }

  /** What the server wrote to stderr last (bounded), and how it exited, if it did. */
  diagnostics(): string {
    return [this.exitInfo, this.stderrTail.trim()].filter(Boolean).join('; ');
  }

  start(): Promise<void> {
    if (this.child) throw new Error('StdioProcessTransport already started');
    this.cwd = mkdtempSync(join(tmpdir(), 'mcp-stdio-'));
    const env: Record<string, string> = { ...this.options.env };
    if (process.env.PATH !== undefined && env.PATH === undefined) env.PATH = process.env.PATH;
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.command, [...this.options.args], {
        cwd: this.cwd,
        env,
        shell: false,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
      this.child = child;
      this.exited = new Promise((done) => child.once('close', () => done()));
      child.once('error', (error) => {
        reject(error);
        this.onerror?.(error);
      });
      child.once('spawn', () => resolve());
      child.once('exit', (code, signal) => {
        this.exitInfo = `the server exited (${signal ? `signal ${signal}` : `code ${code}`})`;
      });
      child.once('close', () => {
        this.removeCwd();
        this.onclose?.();
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        this.buffer.append(chunk);
        this.drain();
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
      });
      // A server that dies makes writes fail with EPIPE: reported, never thrown.
      child.stdin?.on('error', (error) => this.onerror?.(error));
      child.stdout?.on('error', (error) => this.onerror?.(error));
    });
  }

  private drain(): void {
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (error) {
        this.onerror?.(error as Error);
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || this.exitInfo) {
      return Promise.reject(new Error(`Not connected${this.exitInfo ? `: ${this.exitInfo}` : ''}`));
    }
    return new Promise((resolve) => {
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', () => resolve());
    });
  }

  /** Stops the server and everything in its process group; resolves once it has exited. */
  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child?.pid) {
      this.removeCwd();
      return;
    }
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      if (!(await within(this.exited!, GRACE_MS))) {
        killGroup(child.pid, 'SIGTERM');
        if (!(await within(this.exited!, GRACE_MS))) killGroup(child.pid, 'SIGKILL');
      }
    }
    // The leader may be gone while children it started linger: the group goes too.
    killGroup(child.pid, 'SIGKILL');
    await this.exited;
    this.buffer.clear();
  }

  private removeCwd(): void {
    if (!this.cwd) return;
    rmSync(this.cwd, { recursive: true, force: true });
    this.cwd = undefined;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
