import { readServerEntry, writeServerEntry } from './mcp-servers.format';

describe(readServerEntry.name, () => {
  const read = (entry: unknown) => readServerEntry('s', entry);

  it('reads each client dialect of the transport', () => {
    expect(read({ command: 'npx' }).definition.transport).toBe('stdio');
    expect(read({ url: 'http://127.0.0.1/mcp' }).definition.transport).toBe('streamable-http');
    expect(read({ type: 'http', url: 'x' }).definition.transport).toBe('streamable-http');
    expect(read({ transport: 'sse', url: 'x' }).definition.transport).toBe('sse');
    expect(read({ transportType: 'streamableHttp', url: 'x' }).definition.transport).toBe(
      'streamable-http',
    );
    expect(read({ serverUrl: 'http://127.0.0.1/mcp' }).definition).toMatchObject({
      transport: 'streamable-http',
      url: 'http://127.0.0.1/mcp',
    });
  });

  it('names what it refuses and what it ignores', () => {
    expect(read({ type: 'stdio', transport: 'sse', command: 'x' }).problems).toEqual([
      'type and transport disagree',
    ]);
    expect(read({ type: 'ws', url: 'x' }).problems[0]).toMatch(/^type must be one of/);
    expect(read({}).problems).toEqual(['needs command (stdio) or url (http, sse)']);
    expect(read({ url: 'a', serverUrl: 'b' }).problems).toContain(
      'give url or serverUrl, not both',
    );
    expect(read({ command: 'x', disabled: 'yes' }).problems).toEqual([
      'disabled must be true or false',
    ]);
    expect(read({ command: 'x', env: { A: '[REDACTED]' } }).problems).toEqual([
      'env.A is "[REDACTED]" (an export without secrets): give the value',
    ]);
    expect(read({ command: 'x', alwaysAllow: [], timeout: 60 })).toMatchObject({
      problems: [],
      ignored: ['alwaysAllow', 'timeout'],
    });
  });

  it('turns disabled into a tag, and back', () => {
    const { definition } = read({ command: 'npx', disabled: true, tags: ['files'] });
    expect(definition.tags).toEqual(['files', 'disabled']);
    const entry = writeServerEntry(
      {
        transport: 'stdio',
        command: 'npx',
        args: [],
        url: null,
        description: '',
        tags: ['files', 'disabled'],
      },
      {},
      {},
    );
    expect(entry).toEqual({
      type: 'stdio',
      command: 'npx',
      args: [],
      disabled: true,
      tags: ['files'],
    });
  });
});
