import type { ConfigService } from '@nestjs/config';
import type { Env } from '@/config/env';
import type { McpDefinitionsService } from '../mcp-definitions.service';
import { McpConnector, StdioCommandRefusedError, traceparent } from './mcp-connector';
import { discoveredVersion } from './mcp-discovery.service';

describe(McpConnector.name, () => {
  const config = (commands: string[]) =>
    ({
      get: (key: string) => (key === 'MCP_STDIO_COMMANDS' ? commands : 0),
    }) as unknown as ConfigService<Env, true>;
  const connector = new McpConnector({} as McpDefinitionsService, config(['node', 'npx']));
  const stdio = (command: string, args: string[] = []) => ({
    transport: 'stdio' as const,
    command,
    args,
  });

  it.each([
    [stdio('node', ['server.js'])],
    [stdio('npx', ['-y', '@modelcontextprotocol/server-everything'])],
    [{ transport: 'streamable-http' as const, command: null, args: [] }],
  ])('lets allow-listed invocations through: %j', (definition) => {
    expect(() => connector.checkSpawnable(definition)).not.toThrow();
  });

  it.each([
    [stdio('sh', ['-c', 'node server.js']), 'command "sh" is not allowed to be spawned'],
    [stdio('/usr/bin/node', ['server.js']), 'command "/usr/bin/node" is not allowed'],
    [stdio('node ', ['server.js']), 'is not allowed'],
    [stdio('npx'), 'npx without a package to run starts a shell'],
    [stdio('npx', ['--yes']), 'npx without a package to run starts a shell'],
    [stdio('npx', ['-c', 'x']), 'npx -c/--call runs a shell command'],
    [stdio('npx', ['--call=x', 'pkg']), 'npx -c/--call runs a shell command'],
  ])('refuses %j', (definition, message) => {
    expect(() => connector.checkSpawnable(definition)).toThrow(StdioCommandRefusedError);
    expect(() => connector.checkSpawnable(definition)).toThrow(message);
  });

  it('refuses everything stdio with an empty allow-list', () => {
    const none = new McpConnector({} as McpDefinitionsService, config([]));
    expect(() => none.checkSpawnable(stdio('node', ['s.js']))).toThrow(
      '(MCP_STDIO_COMMANDS: none)',
    );
  });
});

describe('traceparent', () => {
  it('uses a UUID correlation id as the trace id, and a fresh span id per call', () => {
    const a = traceparent('0B0F3A52-6D0E-4A4E-9A55-5C2F3C1D7E01');
    const b = traceparent('0b0f3a52-6d0e-4a4e-9a55-5c2f3c1d7e01');
    expect(a).toMatch(/^00-0b0f3a526d0e4a4e9a555c2f3c1d7e01-[0-9a-f]{16}-01$/);
    expect(a.slice(0, 36)).toBe(b.slice(0, 36));
    expect(a).not.toBe(b);
  });

  it('hashes any other correlation id into a valid trace id', () => {
    expect(traceparent('req-42')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(traceparent('00000000-0000-0000-0000-000000000000')).not.toContain('-' + '0'.repeat(32));
  });
});

describe('discoveredVersion', () => {
  const now = new Date('2026-11-23T06:45:12.345Z');
  it.each([
    ['1.2.3', '1.2.3+discovered.20261123064512345'],
    ['2.0.0-beta.1+build.7', '2.0.0-beta.1+discovered.20261123064512345'],
    ['v1', '0.0.0+discovered.20261123064512345'],
    [undefined, '0.0.0+discovered.20261123064512345'],
  ])('%s → %s', (server, expected) => {
    expect(discoveredVersion(server, now)).toBe(expected);
  });
});
