import { createHash, randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { HttpStatus, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { DomainError, InvalidInputError } from '@/common/errors/domain-error';
import type { Env } from '@/config/env';
import type { McpDefinition } from '../entities/mcp-definition.entity';
import { McpDefinitionsService } from '../mcp-definitions.service';
import { StdioProcessTransport } from './stdio-process.transport';

/** The MCP server could not be reached, or broke the protocol: 502 with the reason. */
export class McpConnectionError extends DomainError {
  constructor(message: string) {
    super(message, HttpStatus.BAD_GATEWAY);
  }
}

/** A stdio definition names an executable that MCP_STDIO_COMMANDS does not allow: 400. */
export class StdioCommandRefusedError extends InvalidInputError {}

/** Who the call belongs to, for the server's own logs (HTTP transports only). */
export interface CallTrace {
  correlationId?: string | null;
}

export interface ConnectOptions {
  signal?: AbortSignal;
  /**
   * May take a warm stdio server from the pool (MCP_STDIO_POOL_SIZE > 0), to be handed back
   * with `release(true)`. Never for discovery: it must see the server as it starts.
   */
  reuse?: boolean;
  /** Bound on connecting and initializing, in ms. */
  timeoutMs: number;
  trace?: CallTrace;
}

/** An initialized MCP client on one definition's server; `close()` always, it stops a spawned server. */
export interface McpSession {
  client: Client;
  definition: Pick<McpDefinition, 'id' | 'name' | 'transport'>;
  /** The spawned server's pid (stdio). */
  pid?: number;
  close(): Promise<void>;
  /**
   * Done with it: a healthy stdio session goes back to the pool (when pooling is on and the
   * definition unchanged), anything else is closed. `healthy`: the last call was answered
   * (not aborted, timed out or broken).
   */
  release(healthy: boolean): Promise<void>;
  /** Secret values of the definition masked out of a text (e.g. an error message). */
  scrub(text: string): string;
}

const CLIENT_INFO = { name: 'mcp-backend', version: '0.1.0' };
/** A warm server unused this long is stopped. */
const POOL_IDLE_MS = 60_000;

interface IdleSession {
  session: McpSession;
  timer: NodeJS.Timeout;
}

/**
 * Opens MCP sessions on registered definitions, through `@modelcontextprotocol/sdk`: stdio
 * servers are spawned (allow-listed executables only, see `StdioProcessTransport`), HTTP ones
 * reached with their headers plus `X-Correlation-ID` and a W3C `traceparent`.
 */
@Injectable()
export class McpConnector implements BeforeApplicationShutdown {
  private readonly allowed: ReadonlySet<string>;
  private readonly stopping = new AbortController();
  /** Every transport not yet closed: shutdown stops them all (no server outlives the app). */
  private readonly open = new Set<Transport>();
  /** Warm stdio servers by definition and its version of the row (`id:updatedAt`). */
  private readonly idle = new Map<string, IdleSession[]>();
  private readonly poolSize: number;

  constructor(
    private readonly definitions: McpDefinitionsService,
    config: ConfigService<Env, true>,
  ) {
    this.allowed = new Set(config.get('MCP_STDIO_COMMANDS', { infer: true }));
    this.poolSize = config.get('MCP_STDIO_POOL_SIZE', { infer: true });
  }

  /** Aborted when the app shuts down: every call in flight ends. */
  get stopSignal(): AbortSignal {
    return this.stopping.signal;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort(new Error('The service is stopping'));
    for (const list of this.idle.values()) list.forEach((i) => clearTimeout(i.timer));
    this.idle.clear();
    await Promise.all([...this.open].map((t) => t.close().catch(() => undefined)));
  }

  /** Throws `StdioCommandRefusedError` when the service would refuse to spawn `definition`. */
  checkSpawnable(definition: Pick<McpDefinition, 'transport' | 'command' | 'args'>): void {
    if (definition.transport !== 'stdio') return;
    if (!definition.command || !this.allowed.has(definition.command)) {
      throw new StdioCommandRefusedError(
        `command ${JSON.stringify(definition.command)} is not allowed to be spawned ` +
          `(MCP_STDIO_COMMANDS: ${[...this.allowed].join(', ') || 'none'})`,
      );
    }
    const problem = shellLikeInvocation(definition.command, definition.args);
    if (problem) throw new StdioCommandRefusedError(problem);
  }

  /**
   * Connects and runs `initialize`. Reads the definition (and its secrets) in the caller's
   * transaction, if any. Throws NotFoundError, StdioCommandRefusedError, or McpConnectionError.
   */
  async connect(definitionId: string, options: ConnectOptions): Promise<McpSession> {
    const definition = await this.definitions.findOne(definitionId);
    this.checkSpawnable(definition);
    const key = `${definition.id}:${definition.updatedAt.getTime()}`;
    const pooled = options.reuse && this.poolSize > 0 && definition.transport === 'stdio';
    if (pooled) {
      const warm = this.takeIdle(key);
      if (warm) return warm;
    }
    const secrets = await this.definitions.resolveSecrets(definitionId);
    const secretValues = [...Object.values(secrets.env), ...Object.values(secrets.headers)];
    const scrub = (text: string) => scrubValues(text, secretValues);
    if (this.stopping.signal.aborted) throw new McpConnectionError('The service is stopping');
    const transport = this.transport(definition, secrets, options.trace);
    this.open.add(transport);
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    // Errors the transport reports outside a request (a dying server) end up in the request's
    // rejection; nothing to do with them here.
    client.onerror = () => undefined;
    const close = async () => {
      await client.close().catch(() => transport.close().catch(() => undefined));
      this.open.delete(transport);
    };
    const signal = AbortSignal.any(
      [options.signal, this.stopping.signal].filter((s): s is AbortSignal => s !== undefined),
    );
    try {
      await client.connect(transport, { signal, timeout: options.timeoutMs });
    } catch (error) {
      await close();
      throw new McpConnectionError(
        scrub(
          `Could not connect to MCP server "${definition.name}": ${describe(error, transport)}`,
        ),
      );
    }
    const session: McpSession = {
      client,
      definition: { id: definition.id, name: definition.name, transport: definition.transport },
      pid: transport instanceof StdioProcessTransport ? transport.pid : undefined,
      close,
      scrub,
      release: (healthy) =>
        pooled && healthy && this.putIdle(key, session) ? Promise.resolve() : close(),
    };
    return session;
  }

  /** Warm stdio servers kept right now (for tests and the benchmark). */
  get idleCount(): number {
    return [...this.idle.values()].reduce((n, list) => n + list.length, 0);
  }

  /** A live warm session of exactly this definition row; older rows' servers are stopped. */
  private takeIdle(key: string): McpSession | undefined {
    const id = key.slice(0, key.indexOf(':'));
    for (const [other, list] of this.idle) {
      if (other !== key && other.startsWith(`${id}:`)) {
        this.idle.delete(other);
        for (const i of list) {
          clearTimeout(i.timer);
          void i.session.close();
        }
      }
    }
    const list = this.idle.get(key) ?? [];
    for (let item = list.pop(); item; item = list.pop()) {
      clearTimeout(item.timer);
      if (isAlive(item.session)) return item.session;
      void item.session.close();
    }
    return undefined;
  }

  /** Keeps `session` warm if there is room; false when it must be closed instead. */
  private putIdle(key: string, session: McpSession): boolean {
    if (this.stopping.signal.aborted || !isAlive(session)) return false;
    const list = this.idle.get(key) ?? [];
    if (list.length >= this.poolSize) return false;
    const item: IdleSession = {
      session,
      timer: setTimeout(() => {
        const at = list.indexOf(item);
        if (at >= 0) list.splice(at, 1);
        void session.close();
      }, POOL_IDLE_MS).unref(),
    };
    list.push(item);
    this.idle.set(key, list);
    return true;
  }

  /** Why a session's call failed, with the server's own last words (stderr, exit) if it died. */
  explain(session: McpSession, error: unknown): string {
    const transport = session.client.transport;
    return session.scrub(describe(error, transport));
  }

  private transport(
    definition: McpDefinition,
    secrets: { env: Record<string, string>; headers: Record<string, string> },
    trace: CallTrace | undefined,
  ): Transport {
    if (definition.transport === 'stdio') {
      return new StdioProcessTransport({
        command: definition.command!,
        args: definition.args,
        env: secrets.env,
      });
    }
    const headers: Record<string, string> = { ...secrets.headers };
    if (trace?.correlationId) {
      headers['X-Correlation-ID'] = trace.correlationId;
      headers.traceparent = traceparent(trace.correlationId);
    }
    const url = new URL(definition.url!);
    if (definition.transport === 'sse') {
      return new SSEClientTransport(url, {
        requestInit: { headers },
        eventSourceInit: {
          fetch: (input, init) =>
            fetch(input, { ...init, headers: { ...(init?.headers ?? {}), ...headers } }),
        },
      });
    }
    return new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  }
}

/**
 * A W3C trace context whose trace id is derived from the correlation id (a UUID's 32 hex
 * digits as they are, anything else hashed), so every call of one run shares one trace.
 */
export function traceparent(correlationId: string): string {
  const hex = correlationId.replace(/-/g, '').toLowerCase();
  const traceId =
    /^[0-9a-f]{32}$/.test(hex) && !/^0+$/.test(hex)
      ? hex
      : createHash('sha256').update(correlationId).digest('hex').slice(0, 32);
  return `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
}

/**
 * `npx` without a package (or with `-c`/`--call`) starts a shell that runs what it reads on
 * stdin, i.e. the JSON-RPC lines we send: never that.
 */
function shellLikeInvocation(command: string, args: readonly string[]): string | null {
  if (basename(command) !== 'npx') return null;
  if (args.some((a) => a === '-c' || a === '--call' || a.startsWith('--call='))) {
    return 'npx -c/--call runs a shell command: name the package to run instead';
  }
  if (!args.some((a) => !a.startsWith('-'))) {
    return 'npx without a package to run starts a shell: name the package in args';
  }
  return null;
}

function isAlive(session: McpSession): boolean {
  const transport = session.client.transport;
  return transport instanceof StdioProcessTransport && transport.running;
}

function describe(error: unknown, transport: Transport | undefined): string {
  const message = error instanceof Error ? error.message : String(error);
  const diagnostics =
    transport instanceof StdioProcessTransport ? transport.diagnostics() : undefined;
  return diagnostics ? `${message} (${diagnostics})` : message;
}

function scrubValues(text: string, values: readonly string[]): string {
  let out = text;
  // Longest first, so a value containing another is masked whole.
  for (const value of [...values].sort((a, b) => b.length - a.length)) {
    if (value.length >= 4) out = out.split(value).join('[REDACTED]');
  }
  return out;
}
