import { createHash, randomBytes } from 'node:crypto';
import { HttpStatus, Injectable } from '@nestjs/common';
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
  /** Secret values of the definition masked out of a text (e.g. an error message). */
  scrub(text: string): string;
}

const CLIENT_INFO = { name: 'mcp-backend', version: '0.1.0' };

/**
 * Opens MCP sessions on registered definitions, through `@modelcontextprotocol/sdk`: stdio
 * servers are spawned (allow-listed executables only, see `StdioProcessTransport`), HTTP ones
 * reached with their headers plus `X-Correlation-ID` and a W3C `traceparent`.
 */
@Injectable()
export class McpConnector {
  private readonly allowed: ReadonlySet<string>;

  constructor(
    private readonly definitions: McpDefinitionsService,
    config: ConfigService<Env, true>,
  ) {
    this.allowed = new Set(config.get('MCP_STDIO_COMMANDS', { infer: true }));
  }

  /** Throws `StdioCommandRefusedError` when the service would refuse to spawn `definition`. */
  checkSpawnable(definition: Pick<McpDefinition, 'transport' | 'command'>): void {
    if (definition.transport !== 'stdio') return;
    if (!definition.command || !this.allowed.has(definition.command)) {
      throw new StdioCommandRefusedError(
        `command ${JSON.stringify(definition.command)} is not allowed to be spawned ` +
          `(MCP_STDIO_COMMANDS: ${[...this.allowed].join(', ') || 'none'})`,
      );
    }
  }

  /**
   * Connects and runs `initialize`. Reads the definition (and its secrets) in the caller's
   * transaction, if any. Throws NotFoundError, StdioCommandRefusedError, or McpConnectionError.
   */
  async connect(definitionId: string, options: ConnectOptions): Promise<McpSession> {
    const definition = await this.definitions.findOne(definitionId);
    this.checkSpawnable(definition);
    const secrets = await this.definitions.resolveSecrets(definitionId);
    const secretValues = [...Object.values(secrets.env), ...Object.values(secrets.headers)];
    const scrub = (text: string) => scrubValues(text, secretValues);
    const transport = this.transport(definition, secrets, options.trace);
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    // Errors the transport reports outside a request (a dying server) end up in the request's
    // rejection; nothing to do with them here.
    client.onerror = () => undefined;
    const close = () => client.close().catch(() => transport.close().catch(() => undefined));
    try {
      await client.connect(transport, { signal: options.signal, timeout: options.timeoutMs });
    } catch (error) {
      await close();
      throw new McpConnectionError(
        scrub(
          `Could not connect to MCP server "${definition.name}": ${describe(error, transport)}`,
        ),
      );
    }
    return {
      client,
      definition: { id: definition.id, name: definition.name, transport: definition.transport },
      pid: transport instanceof StdioProcessTransport ? transport.pid : undefined,
      close,
      scrub,
    };
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
