import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { ClsService } from 'nestjs-cls';
import type { RequestContext } from '@/common/context/request-context';
import { SEMVER } from '@/common/validation/validators';
import type { Env } from '@/config/env';
import { MAX_MANIFEST_BYTES } from '../dto/create-mcp-version.dto';
import type { McpVersion } from '../entities/mcp-version.entity';
import { McpDefinitionsService } from '../mcp-definitions.service';
import { McpConnectionError, McpConnector } from './mcp-connector';

/** tools/list pages followed at most (a server that pages forever is cut off). */
const MAX_TOOL_PAGES = 50;

/** A discovered tool as a manifest holds it. */
export interface ManifestTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Tool['inputSchema'];
  outputSchema?: Tool['outputSchema'];
  annotations?: Tool['annotations'];
}

/**
 * Tool discovery: connect to a definition's server, `initialize` + `tools/list`, publish what it
 * says as a new version. Runs in the caller's transaction (the route's, audited CREATE
 * MCP_VERSION), bounded by WORKFLOW_STEP_TIMEOUT_SECONDS.
 */
@Injectable()
export class McpDiscoveryService {
  private readonly timeoutMs: number;

  constructor(
    private readonly connector: McpConnector,
    private readonly definitions: McpDefinitionsService,
    private readonly cls: ClsService<RequestContext>,
    config: ConfigService<Env, true>,
  ) {
    this.timeoutMs = config.get('WORKFLOW_STEP_TIMEOUT_SECONDS', { infer: true }) * 1000;
  }

  async discover(definitionId: string): Promise<McpVersion> {
    // Lock the definition first: a concurrent delete cannot orphan the version.
    await this.definitions.findOne(definitionId, true);
    const signal = AbortSignal.timeout(this.timeoutMs);
    const session = await this.connector.connect(definitionId, {
      signal,
      timeoutMs: this.timeoutMs,
      trace: { correlationId: this.cls.get('correlationId') },
    });
    let manifest: Record<string, unknown>;
    try {
      const tools = await this.listTools(session.client, signal);
      manifest = {
        serverInfo: session.client.getServerVersion() ?? null,
        capabilities: session.client.getServerCapabilities() ?? {},
        instructions: session.client.getInstructions() ?? null,
        tools,
        discoveredAt: new Date().toISOString(),
      };
    } catch (error) {
      throw new McpConnectionError(
        `MCP server "${session.definition.name}" failed tools/list: ${this.connector.explain(session, error)}`,
      );
    } finally {
      await session.close();
    }
    if (Buffer.byteLength(JSON.stringify(manifest)) > MAX_MANIFEST_BYTES) {
      throw new McpConnectionError(
        `MCP server "${session.definition.name}" describes tools beyond ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    const server = manifest.serverInfo as { name?: string; version?: string } | null;
    const tools = manifest.tools as ManifestTool[];
    return this.definitions.publishVersion(definitionId, {
      version: discoveredVersion(server?.version),
      manifest,
      changelog:
        `Discovered ${tools.length} tool(s) from ${server?.name ?? 'the server'} ${server?.version ?? ''}`.trim(),
    });
  }

  private async listTools(client: McpSessionClient, signal: AbortSignal): Promise<ManifestTool[]> {
    const tools: ManifestTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const result = await client.listTools(cursor ? { cursor } : undefined, {
        signal,
        timeout: this.timeoutMs,
      });
      for (const t of result.tools) {
        tools.push(
          stripUndefined({
            name: t.name,
            title: t.title,
            description: t.description,
            inputSchema: t.inputSchema,
            outputSchema: t.outputSchema,
            annotations: t.annotations,
          }),
        );
      }
      cursor = result.nextCursor;
      if (!cursor) break;
    }
    return tools;
  }
}

type McpSessionClient = Awaited<ReturnType<McpConnector['connect']>>['client'];

/**
 * The version a discovery publishes: the server's own version when it is semver (else 0.0.0),
 * with build metadata saying when it was discovered, e.g. `1.4.0+discovered.20261123061530123`.
 */
export function discoveredVersion(serverVersion: string | undefined, now = new Date()): string {
  const core = serverVersion?.split('+')[0];
  const base = core && SEMVER.test(core) && core.length <= 60 ? core : '0.0.0';
  const stamp = now.toISOString().replace(/\D/g, '');
  return `${base}+discovered.${stamp}`;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
