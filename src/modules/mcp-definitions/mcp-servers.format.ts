import { REDACTED } from '@/modules/auditing';
import type { Transport } from './entities/mcp-definition.entity';

/**
 * The `mcpServers` format of desktop MCP clients, and this registry's definitions. Clients
 * differ in small ways (Claude Desktop: no type, stdio only; Claude Code and VS Code: `type`
 * `stdio`/`http`/`sse`; Cline: `transportType`, `disabled`, `autoApprove`; Windsurf:
 * `serverUrl`): what they share is read, client-only settings are ignored and reported, and
 * anything else is refused by name, so nothing is silently half-imported.
 */

/** Names a client uses for a transport → ours. */
const TRANSPORT_NAMES: Record<string, Transport> = {
  stdio: 'stdio',
  sse: 'sse',
  http: 'streamable-http',
  'streamable-http': 'streamable-http',
  streamableHttp: 'streamable-http',
  streamable_http: 'streamable-http',
};
/** What we write for each transport (the names Claude Code, Cursor and VS Code read). */
const EXPORT_TYPE: Record<Transport, string> = {
  stdio: 'stdio',
  sse: 'sse',
  'streamable-http': 'http',
};
const TYPE_KEYS = ['type', 'transport', 'transportType'] as const;
/** Settings of the desktop client itself (tool approval, UI): nothing the registry keeps. */
export const CLIENT_ONLY_KEYS = ['autoApprove', 'alwaysAllow', 'timeout', 'disabledTools'];
/** Fields a client honours that the registry cannot (it runs servers in its own sandbox). */
const UNSUPPORTED: Record<string, string> = {
  cwd: 'stdio servers run in a working directory of their own',
  envFile: 'put the variables in env',
};
const KNOWN = new Set<string>([
  ...TYPE_KEYS,
  'command',
  'args',
  'env',
  'url',
  'serverUrl',
  'headers',
  'disabled',
  'description',
  'tags',
]);
export const DISABLED_TAG = 'disabled';

/** One item of the file, read as the fields of a create request. */
export interface ImportedServer {
  /** The create body (checked afterwards with the create rules). */
  definition: Record<string, unknown>;
  problems: string[];
  ignored: string[];
}

export function readServerEntry(name: string, entry: unknown): ImportedServer {
  const problems: string[] = [];
  const ignored: string[] = [];
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    return { definition: {}, problems: ['must be an object'], ignored };
  }
  const item = entry as Record<string, unknown>;
  for (const key of Object.keys(item)) {
    if (CLIENT_ONLY_KEYS.includes(key)) ignored.push(key);
    else if (UNSUPPORTED[key]) problems.push(`${key} is not supported: ${UNSUPPORTED[key]}`);
    else if (!KNOWN.has(key)) problems.push(`unknown field ${key}`);
  }
  if (item.url !== undefined && item.serverUrl !== undefined) {
    problems.push('give url or serverUrl, not both');
  }
  const url = item.url ?? item.serverUrl;
  const transport = transportOf(item, url, problems);
  if (item.disabled !== undefined && typeof item.disabled !== 'boolean') {
    problems.push('disabled must be true or false');
  }
  const definition: Record<string, unknown> = { name, transport };
  for (const key of ['command', 'args', 'env', 'headers', 'description', 'tags'] as const) {
    if (item[key] !== undefined) definition[key] = item[key];
  }
  if (url !== undefined) definition.url = url;
  if (item.disabled === true) {
    const tags = Array.isArray(item.tags) ? (item.tags as unknown[]) : [];
    definition.tags = tags.includes(DISABLED_TAG) ? tags : [...tags, DISABLED_TAG];
  }
  for (const field of ['env', 'headers'] as const) {
    const map = item[field];
    if (map === null || typeof map !== 'object') continue;
    for (const [key, value] of Object.entries(map)) {
      if (value === REDACTED) {
        problems.push(
          `${field}.${key} is "${REDACTED}" (an export without secrets): give the value`,
        );
      }
    }
  }
  return { definition, problems, ignored };
}

function transportOf(
  item: Record<string, unknown>,
  url: unknown,
  problems: string[],
): Transport | undefined {
  const given = TYPE_KEYS.filter((k) => item[k] !== undefined);
  const names = [...new Set(given.map((k) => item[k]))];
  if (names.length > 1) {
    problems.push(`${given.join(' and ')} disagree`);
    return undefined;
  }
  if (names.length === 1) {
    const name = names[0];
    const transport = typeof name === 'string' ? TRANSPORT_NAMES[name] : undefined;
    if (!transport) {
      problems.push(
        `${given[0]} must be one of ${Object.keys(TRANSPORT_NAMES).join(', ')} (got ${JSON.stringify(name)?.slice(0, 40)})`,
      );
    }
    return transport;
  }
  if (item.command !== undefined && url === undefined) return 'stdio';
  if (url !== undefined && item.command === undefined) return 'streamable-http';
  problems.push(
    url === undefined
      ? 'needs command (stdio) or url (http, sse)'
      : 'has both command and url: say which with type',
  );
  return undefined;
}

/** What a definition looks like in the file (secret values as given: sealed or plain). */
export interface ExportableDefinition {
  transport: Transport;
  command: string | null;
  args: string[];
  url: string | null;
  description: string;
  tags: string[];
}

export function writeServerEntry(
  definition: ExportableDefinition,
  env: Record<string, string>,
  headers: Record<string, string>,
): Record<string, unknown> {
  const entry: Record<string, unknown> = { type: EXPORT_TYPE[definition.transport] };
  if (definition.transport === 'stdio') {
    entry.command = definition.command;
    entry.args = definition.args;
    if (Object.keys(env).length > 0) entry.env = env;
  } else {
    entry.url = definition.url;
    if (Object.keys(headers).length > 0) entry.headers = headers;
    // Remote servers can carry env too (the executor passes it nowhere, but it round-trips).
    if (Object.keys(env).length > 0) entry.env = env;
  }
  const tags = definition.tags.filter((t) => t !== DISABLED_TAG);
  if (tags.length !== definition.tags.length) entry.disabled = true;
  if (definition.description) entry.description = definition.description;
  if (tags.length > 0) entry.tags = tags;
  return entry;
}
