import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSecretsBox, secretsKeyFile } from './secrets-key';

describe(loadSecretsBox.name, () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-secrets-key-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const env = (over: object = {}) => ({
    NODE_ENV: 'development' as const,
    EMBEDDED_PG_DATA_DIR: join(dir, 'postgres'),
    ...over,
  });

  it('uses MCP_SECRETS_KEY when set, and writes no file', async () => {
    const key = randomBytes(32).toString('base64');
    const warn = jest.fn();
    const { box, file } = await loadSecretsBox(env({ MCP_SECRETS_KEY: key }), warn);
    expect(box.source).toBe('MCP_SECRETS_KEY');
    expect(file).toBeUndefined();
    await expect(stat(secretsKeyFile(env()))).rejects.toThrow(/ENOENT/);
    expect(warn).not.toHaveBeenCalled();
  });

  it('generates a key file beside the embedded data dir once (mode 0600), with a warning', async () => {
    const warn = jest.fn();
    const first = await loadSecretsBox(env(), warn);
    expect(first.file).toBe(join(dir, 'mcp-secrets.key'));
    expect((await stat(first.file!)).mode & 0o777).toBe(0o600);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/MCP_SECRETS_KEY is not set: generated a secrets key/);
    const again = await loadSecretsBox(env(), warn);
    expect(again.box.kid).toBe(first.box.kid);
    expect(warn).toHaveBeenCalledTimes(1);
    expect((await readFile(first.file!, 'utf8')).trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('gives every concurrent starter the same key', async () => {
    const boxes = await Promise.all(
      Array.from({ length: 8 }, () => loadSecretsBox(env(), () => undefined)),
    );
    expect(new Set(boxes.map((b) => b.box.kid)).size).toBe(1);
  });

  it('refuses to go without a key in production, naming the variable', async () => {
    await expect(loadSecretsBox(env({ NODE_ENV: 'production' }), jest.fn())).rejects.toThrow(
      'MCP_SECRETS_KEY is required when NODE_ENV=production',
    );
    await expect(stat(secretsKeyFile(env()))).rejects.toThrow(/ENOENT/);
  });

  it('does not generate a key when asked not to (key rotation)', async () => {
    await expect(loadSecretsBox(env(), jest.fn(), { create: false })).rejects.toThrow(
      /No secrets key: MCP_SECRETS_KEY is not set and .*mcp-secrets\.key does not exist/,
    );
  });
});
